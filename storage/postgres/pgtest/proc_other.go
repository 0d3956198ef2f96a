//go:build !linux

package pgtest

import (
	"errors"
	"os"
	"os/exec"
)

// setProcAttr runs cmd as the current user: switching to the postgres
// user when run as root is implemented on Linux only.
func setProcAttr(cmd *exec.Cmd, as *runAs) {
	if as != nil {
		cmd.Err = errors.New("pgtest: running PostgreSQL as another user is supported on Linux only; run the tests as a non-root user")
	}
}

// signalQuit stops the server.
func signalQuit(p *os.Process) error { return p.Kill() }
