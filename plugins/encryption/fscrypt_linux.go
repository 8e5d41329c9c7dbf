package encryption

import (
	"errors"
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// fscryptPolicy asks the kernel for the fscrypt policy of dir. Opening the
// directory read-only and the ioctl need no key and change nothing.
func fscryptPolicy(dir string) Fscrypt {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	if err != nil {
		return Fscrypt{State: "error", Detail: fmt.Sprintf("open %s: %v", dir, err)}
	}
	defer unix.Close(fd)
	var arg unix.FscryptGetPolicyExArg
	arg.Size = uint64(len(arg.Policy))
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.FS_IOC_GET_ENCRYPTION_POLICY_EX, uintptr(unsafe.Pointer(&arg)))
	return fscryptResult(errno, arg.Policy[:min(arg.Size, uint64(len(arg.Policy)))])
}

// fscryptResult interprets the ioctl's outcome (fscrypt.rst, "Getting
// an encryption policy").
func fscryptResult(errno unix.Errno, policy []byte) Fscrypt {
	switch {
	case errno == 0:
		f, err := decodeFscryptPolicy(policy)
		if err != nil {
			return Fscrypt{State: "error", Detail: err.Error()}
		}
		return f
	case errors.Is(errno, unix.ENODATA):
		return Fscrypt{State: "none", Detail: "the directory has no fscrypt policy"}
	case errors.Is(errno, unix.ENOTTY):
		return Fscrypt{State: "unsupported", Detail: "the filesystem does not support fscrypt"}
	case errors.Is(errno, unix.EOPNOTSUPP):
		return Fscrypt{State: "unsupported", Detail: "the filesystem supports fscrypt but its encrypt feature is off"}
	case errors.Is(errno, unix.EOVERFLOW):
		return Fscrypt{State: "encrypted", Detail: "a policy version newer than this plugin knows"}
	case errors.Is(errno, unix.EINVAL):
		return Fscrypt{State: "unsupported", Detail: "the kernel refused FS_IOC_GET_ENCRYPTION_POLICY_EX (EINVAL; it first appeared in Linux 5.4)"}
	}
	return Fscrypt{State: "error", Detail: errno.Error()}
}
