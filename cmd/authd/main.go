// Command authd is an OAuth 2.0 / OpenID Connect authorization server with
// an embedded database. Run `authd help` for its subcommands.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args, os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		// One line on stderr, whatever the error says.
		fmt.Fprintln(os.Stderr, "authd: "+strings.ReplaceAll(err.Error(), "\n", "; "))
		os.Exit(1)
	}
}
