package mail

// SetDialAddr makes s connect to addr while it still takes its server to
// be the host of Config.SMTPAddr, as if that name resolved to addr.
func SetDialAddr(s *SMTPSender, addr string) { s.dialAddr = addr }

// IsLoopback is isLoopback, for tests.
var IsLoopback = isLoopback
