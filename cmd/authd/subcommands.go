package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// subcommand is one subcommand of a command group (users, keys, …).
type subcommand struct {
	name string
	run  func(ctx context.Context, e env, args []string) error
}

// dispatch runs the subcommand args[0] of group, or prints the group's
// usage (with note, if any) for help. An unknown or missing subcommand is
// an error naming the ones there are.
func dispatch(ctx context.Context, e env, group, note string, subs []subcommand, args []string) error {
	names := make([]string, len(subs))
	for i, s := range subs {
		names[i] = s.name
	}
	if len(args) == 0 {
		return fmt.Errorf("%s: want a subcommand: %s", group, strings.Join(names, ", "))
	}
	for _, s := range subs {
		if s.name == args[0] {
			return s.run(ctx, e, args[1:])
		}
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprintf(e.stdout, "Usage: authd %s %s [flags]\n\n%sRun \"authd %s <subcommand> --help\" for its flags.\n",
			group, strings.Join(names, "|"), note, group)
		return nil
	}
	return errors.New(group + ": unknown subcommand " + fmt.Sprintf("%q", args[0]) + " (want " + strings.Join(names, ", ") + ")")
}
