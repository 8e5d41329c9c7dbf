//go:build !linux

package models

import (
	"os"
	"path/filepath"
)

func openDir(path string) (*os.File, error) { return os.Open(path) }

func statAt(dir *os.File, name string) (fileStat, error) {
	fi, err := os.Lstat(filepath.Join(dir.Name(), name))
	if err != nil {
		return fileStat{}, err
	}
	return statOf(fi), nil
}
