package main

import "testing"

func TestSummarize(t *testing.T) {
	hundred := make([]float64, 100)
	for i := range hundred {
		hundred[i] = float64(100 - i) // 100..1, unsorted on purpose
	}
	tests := []struct {
		name string
		in   []float64
		want Summary
	}{
		{"empty", nil, Summary{}},
		{"one", []float64{7}, Summary{N: 1, Min: 7, P50: 7, P90: 7, P99: 7, Max: 7, Mean: 7}},
		{"four", []float64{4, 1, 3, 2}, Summary{N: 4, Min: 1, P50: 2, P90: 4, P99: 4, Max: 4, Mean: 2.5}},
		{"hundred", hundred, Summary{N: 100, Min: 1, P50: 50, P90: 90, P99: 99, Max: 100, Mean: 50.5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := summarize(tt.in); got != tt.want {
				t.Errorf("summarize(%v) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
	if hundred[0] != 100 {
		t.Error("summarize sorted its input in place")
	}
}

func TestMedianSpreadRatio(t *testing.T) {
	tests := []struct {
		in             []float64
		median, spread float64
	}{
		{nil, 0, 0},
		{[]float64{5}, 5, 0},
		{[]float64{4, 6}, 5, 0.4},
		{[]float64{10, 8, 12}, 10, 0.4},
	}
	for _, tt := range tests {
		if got := median(tt.in); got != tt.median {
			t.Errorf("median(%v) = %v, want %v", tt.in, got, tt.median)
		}
		if got := spread(tt.in); got != tt.spread {
			t.Errorf("spread(%v) = %v, want %v", tt.in, got, tt.spread)
		}
	}
	if got := ratio(3, 0); got != 0 {
		t.Errorf("ratio(3, 0) = %v, want 0", got)
	}
	if got := ratio(3, 2); got != 1.5 {
		t.Errorf("ratio(3, 2) = %v, want 1.5", got)
	}
}
