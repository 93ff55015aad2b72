package audit

import (
	"errors"
	"strings"
)

// CheckOperator checks an operator's name for a record: not empty, at
// most 128 printable characters. The command line (--operator, $USER)
// and the console (its login or form) both ask it.
func CheckOperator(name string) error {
	switch {
	case strings.TrimSpace(name) == "":
		return errors.New("no operator: every change is recorded with who made it")
	case len(name) > 128 || strings.ContainsFunc(name, func(r rune) bool { return r < ' ' || r == 0x7f }):
		return errors.New("at most 128 printable characters")
	}
	return nil
}
