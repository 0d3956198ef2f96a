package main

import (
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"
)

// progress tells what a long command is doing. On a terminal it rewrites
// one line in place (\r); elsewhere (a pipe, a file, a log) it stays quiet
// and only the summary line is printed.
type progress struct {
	w     io.Writer
	tty   bool
	width int       // characters of the longest line shown, to blank it out
	last  time.Time // when the line was last rewritten
}

func newProgress(w io.Writer) *progress {
	return &progress{w: w, tty: isTerminal(w)}
}

// show replaces the progress line.
func (p *progress) show(line string) {
	if !p.tty {
		return
	}
	n := utf8.RuneCountInString(line)
	fmt.Fprintf(p.w, "\r%s%s", line, strings.Repeat(" ", max(0, p.width-n)))
	p.width = max(p.width, n)
	p.last = time.Now()
}

// done replaces the progress line with the summary and ends the line; off a
// terminal it prints the summary alone.
func (p *progress) done(summary string) {
	p.show(summary)
	if p.tty {
		fmt.Fprintln(p.w)
	} else {
		fmt.Fprintln(p.w, summary)
	}
	p.width = 0
}

// clear blanks a progress line left behind by a failure, so that the
// error starts on a clean line.
func (p *progress) clear() {
	if p.tty && p.width > 0 {
		fmt.Fprintf(p.w, "\r%s\r", strings.Repeat(" ", p.width))
		p.width = 0
	}
}

// reader passes r through, showing how much of it has been read ("what:
// 45% of 26 MB"), at most ten times a second. size is r's length, 0 when
// unknown.
func (p *progress) reader(r io.Reader, size int64, what string) io.Reader {
	if !p.tty {
		return r
	}
	return &progressReader{r: r, p: p, size: size, what: what}
}

type progressReader struct {
	r    io.Reader
	p    *progress
	size int64
	read int64
	what string
}

func (pr *progressReader) Read(b []byte) (int, error) {
	n, err := pr.r.Read(b)
	pr.read += int64(n)
	if time.Since(pr.p.last) >= 100*time.Millisecond || err == io.EOF {
		line := fmt.Sprintf("%s: %s", pr.what, megabytes(pr.read))
		if pr.size > 0 {
			line = fmt.Sprintf("%s: %d%% of %s", pr.what, min(100, pr.read*100/pr.size), megabytes(pr.size))
		}
		pr.p.show(line)
	}
	return n, err
}

// megabytes shows a byte count to a person.
func megabytes(n int64) string {
	switch {
	case n < 1e3:
		return fmt.Sprintf("%d B", n)
	case n < 1e6:
		return fmt.Sprintf("%.1f kB", float64(n)/1e3)
	}
	return fmt.Sprintf("%.1f MB", float64(n)/1e6)
}
