package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
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
	})
}
