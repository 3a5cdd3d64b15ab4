// Package tap is the TAP harness of the Go tiers: each case runs with a deadline, prints
// "ok N - name" or "not ok N - name" with its error as "# " lines.
package tap

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"
)

type T struct {
	n, failed int
	filter    *regexp.Regexp
}

func New() *T {
	f := os.Getenv("WEIR_GO_FILTER")
	if f == "" {
		f = "."
	}
	return &T{filter: regexp.MustCompile(f)}
}

// Run runs fn with a context that ends after timeout; fn returns nil on success.
func (t *T) Run(name string, timeout time.Duration, fn func(ctx context.Context) error) {
	if !t.filter.MatchString(name) {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	done := make(chan error, 1)
	start := time.Now()
	go func() {
		defer func() {
			if r := recover(); r != nil {
				done <- fmt.Errorf("panic: %v", r)
			}
		}()
		done <- fn(ctx)
	}()
	var err error
	select {
	case err = <-done:
	case <-time.After(timeout + 5*time.Second):
		err = fmt.Errorf("timed out after %v", timeout)
	}
	t.n++
	ms := time.Since(start).Milliseconds()
	if err == nil {
		fmt.Printf("ok %d - %s # %d ms\n", t.n, name, ms)
		return
	}
	t.failed++
	fmt.Printf("not ok %d - %s # %d ms\n", t.n, name, ms)
	lines := strings.Split(err.Error(), "\n")
	if len(lines) > 15 {
		lines = lines[:15]
	}
	for _, l := range lines {
		fmt.Printf("    # %s\n", l)
	}
}

// Done prints the plan and exits 0 when every case passed.
func (t *T) Done() {
	fmt.Printf("1..%d\n", t.n)
	if t.failed > 0 {
		os.Exit(1)
	}
	os.Exit(0)
}

// Eq returns an error when got != want (compared with %v).
func Eq(what string, want, got any) error {
	if fmt.Sprintf("%v", want) != fmt.Sprintf("%v", got) {
		return fmt.Errorf("%s: expected <%v> but was <%v>", what, want, got)
	}
	return nil
}

// First returns the first non-nil error.
func First(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}
