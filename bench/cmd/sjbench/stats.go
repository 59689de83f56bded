package main

import (
	"math"
	"sort"
)

// Summary describes a sample of durations in milliseconds (or any other
// unit the caller chose). Percentiles use the nearest-rank method: P99 of
// 100 values is the 99th smallest, so a single outlier in 100 does not move
// it but two do.
type Summary struct {
	N    int     `json:"n"`
	Min  float64 `json:"min"`
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

// summarize returns the summary of xs. xs is not modified. An empty sample
// gives a zero Summary.
func summarize(xs []float64) Summary {
	if len(xs) == 0 {
		return Summary{}
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	var sum float64
	for _, x := range s {
		sum += x
	}
	return Summary{
		N:    len(s),
		Min:  s[0],
		P50:  percentile(s, 50),
		P90:  percentile(s, 90),
		P99:  percentile(s, 99),
		Max:  s[len(s)-1],
		Mean: sum / float64(len(s)),
	}
}

// percentile returns the nearest-rank p-th percentile (0 < p <= 100) of the
// sorted, non-empty slice s.
func percentile(s []float64, p float64) float64 {
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	if rank < 1 {
		rank = 1
	}
	if rank > len(s) {
		rank = len(s)
	}
	return s[rank-1]
}

// median returns the median of xs (the mean of the two middle values for an
// even count), or 0 for an empty slice. It does not modify xs.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	m := len(s) / 2
	if len(s)%2 == 1 {
		return s[m]
	}
	return (s[m-1] + s[m]) / 2
}

// spread returns (max-min)/median of xs as a fraction: how far apart the
// repetitions of one measurement fell. It is 0 for fewer than two values.
func spread(xs []float64) float64 {
	if len(xs) < 2 {
		return 0
	}
	lo, hi := xs[0], xs[0]
	for _, x := range xs {
		lo = math.Min(lo, x)
		hi = math.Max(hi, x)
	}
	m := median(xs)
	if m == 0 {
		return 0
	}
	return (hi - lo) / m
}

// ratio returns a/b, or 0 when b is 0 (a missing baseline).
func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}
