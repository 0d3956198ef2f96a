package pgtest

import (
	"os"
	"os/exec"
	"syscall"
)

// setProcAttr runs cmd as the given user (nil: the current one) and has
// the kernel stop it when the test process dies, so that a test binary
// killed by its timeout leaves no server behind.
func setProcAttr(cmd *exec.Cmd, as *runAs) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGQUIT}
	if as != nil {
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: as.uid, Gid: as.gid}
	}
}

// signalQuit asks the server for an immediate shutdown.
func signalQuit(p *os.Process) error { return p.Signal(syscall.SIGQUIT) }
