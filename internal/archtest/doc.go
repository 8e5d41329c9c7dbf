// Package archtest holds the test that keeps the import rules of STYLE.md
// true: a newcomer should be able to trust the folder names.
package archtest
