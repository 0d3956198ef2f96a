package server

// SetSweepBatch makes each batch of Sweep delete at most n rows of each
// kind, so a test needs few rows to make it run several batches. Call it
// before the sweep worker can run.
func (s *Server) SetSweepBatch(n int) { s.sweepBatch = n }
