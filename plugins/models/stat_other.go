//go:build !linux

package models

import (
	"os"
	"path/filepath"

	"github.com/annexa/annexa/plugins/sdk"
)

func openDir(path string) (*os.File, error) { return os.Open(path) }

func statAt(dir *os.File, name string) (fileStat, error) {
	fi, err := os.Lstat(filepath.Join(dir.Name(), name))
	if err != nil {
		return fileStat{}, err
	}
	return statOf(fi), nil
}

func openAt(dir *os.File, name string) (fileHandle, error) {
	f, err := sdk.OpenNoFollow(filepath.Join(dir.Name(), name))
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func listDir(path string) ([]entry, error) {
	des, err := os.ReadDir(path)
	if err != nil {
		return nil, err
	}
	out := make([]entry, len(des))
	for i, d := range des {
		out[i] = entry{name: d.Name(), mode: d.Type().Type()}
	}
	return out, nil
}

func openStatAt(dir *os.File, name string) (fileStat, fileHandle, error) {
	f, err := sdk.OpenNoFollow(filepath.Join(dir.Name(), name))
	if err != nil {
		return fileStat{}, nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return fileStat{}, nil, err
	}
	st := statOf(fi)
	if !st.regular {
		f.Close()
		return st, nil, nil
	}
	return st, osFile{f}, nil
}
