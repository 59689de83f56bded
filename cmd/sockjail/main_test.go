package main

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
	"github.com/sockjail/sockjail/internal/testenv"
)

// TestMain lets testscript run this test binary as the "sockjail" command,
// so that the scripts drive the real command table in-process.
func TestMain(m *testing.M) {
	os.Exit(testscript.RunMain(m, map[string]func() int{
		"sockjail": func() int { return dispatch(os.Args[1:]) },
	}))
}

// TestScripts runs the CLI scripts in testdata/script. $POLICIES is the
// repository's testdata/policies, so scripts can check the examples.
func TestScripts(t *testing.T) {
	policies, err := filepath.Abs(filepath.Join("..", "..", "testdata", "policies"))
	if err != nil {
		t.Fatal(err)
	}
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(env *testscript.Env) error {
			env.Setenv("POLICIES", policies)
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"exits": exitsCmd,
		},
	})
}

// exitsCmd is the script command "exits CODE PROGRAM [ARGS...]": it runs
// PROGRAM as exec does (its stdout and stderr are then checked with stdout
// and stderr) and fails unless it exits with CODE.
func exitsCmd(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exits CODE PROGRAM [ARGS...]")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("exits: bad CODE %q", args[0])
	}
	got, err := testenv.ExitStatus(ts.Exec(args[1], args[2:]...))
	if err != nil {
		ts.Fatalf("exits: %v", err)
	}
	if got != want {
		ts.Fatalf("%s exited %d, want %d", args[1], got, want)
	}
}
