package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
)

// compare prints, for every target in both result files, the figures of
// the old and the new run and the change of each ratio to bare. Ratios,
// not milliseconds, are compared: two runs rarely see the same machine
// load, but each ratio was taken within one run.
func compare(w io.Writer, oldPath, newPath string) error {
	var runs [2]Results
	for i, p := range []string{oldPath, newPath} {
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if err := json.Unmarshal(data, &runs[i]); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		if runs[i].Schema != 1 {
			return fmt.Errorf("%s: schema %d, want 1", p, runs[i].Schema)
		}
	}
	old, cur := runs[0], runs[1]
	fmt.Fprintf(w, "old: %s (commit %s, load %s)\nnew: %s (commit %s, load %s)\n\n",
		oldPath, old.Git.Commit, old.Machine.LoadAvgStart, newPath, cur.Git.Commit, cur.Machine.LoadAvgStart)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "target\tp50 x bare old\tnew\tchange\tCPU x bare old\tnew\tchange\tconn/s c=%d x bare old\tnew\tchange\t\n", cur.Config.Conc)
	for _, n := range cur.Targets {
		var o *TargetResult
		for _, x := range old.Targets {
			if x.Name == n.Name {
				o = x
			}
		}
		if o == nil || o.C1.N == 0 || n.C1.N == 0 {
			continue
		}
		fmt.Fprintf(tw, "%s\t%.2f\t%.2f\t%s\t%.2f\t%.2f\t%s\t%.2f\t%.2f\t%s\t\n", n.Name,
			o.RatioP50, n.RatioP50, change(o.RatioP50, n.RatioP50),
			o.RatioCPU, n.RatioCPU, change(o.RatioCPU, n.RatioCPU),
			o.RatioCCCPS, n.RatioCCCPS, change(o.RatioCCCPS, n.RatioCCCPS))
	}
	return tw.Flush()
}

// change formats new relative to old as a signed percentage.
func change(old, new float64) string {
	if old == 0 {
		return "—"
	}
	return fmt.Sprintf("%+.0f%%", 100*(new-old)/old)
}
