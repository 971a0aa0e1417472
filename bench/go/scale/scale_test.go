// Package scale holds the Go halves of the side-by-side benchmarks that Go's own suite does
// not have: cancelling many live timeouts in either order, the scale rows of fan-out
// cancel, chain cancel and live timeouts, and CommonParentCancel's floor (its divisions
// without the contexts). Their C++ halves, with the same names and workloads, are in
// bench/scale.cpp and (the floor) bench/go_suite.cpp; `make bench` (bench/run.sh) builds
// this package offline, in GOPATH mode, from Go's standard library only:
//
//	GO111MODULE=off go test -c -o scale.test ./bench/go/scale
//
// In the scale families one operation is one whole batch of n (building it is not timed:
// b.StopTimer); bench/compare.py divides ns/op by n to give the cost per context.
package scale

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// Sizes of the batches; -quick (bench/run.sh --quick) keeps the two smallest.
var sizes = []int{1_000, 10_000, 100_000, 1_000_000}

func forSizes(b *testing.B, body func(b *testing.B, n int)) {
	for _, n := range sizes {
		if testing.Short() && n > 10_000 {
			continue
		}
		n := n
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) { body(b, n) })
	}
}

// BenchmarkTimeoutsCancel: n one-hour timeouts live, then every one cancelled, oldest
// first (the order in which requests usually end) or newest first. Only the cancels are
// timed.
func BenchmarkTimeoutsCancel(b *testing.B) {
	for _, order := range []string{"oldest", "newest"} {
		order := order
		b.Run("order="+order, func(b *testing.B) {
			forSizes(b, func(b *testing.B, n int) {
				cancels := make([]context.CancelFunc, n)
				for i := 0; i < b.N; i++ {
					b.StopTimer()
					for j := range cancels {
						_, cancels[j] = context.WithTimeout(context.Background(), time.Hour)
					}
					b.StartTimer()
					if order == "oldest" {
						for j := 0; j < n; j++ {
							cancels[j]()
						}
					} else {
						for j := n - 1; j >= 0; j-- {
							cancels[j]()
						}
					}
				}
			})
		})
	}
}

// BenchmarkScaleLiveTimeouts: n one-hour timeouts created (up to n pending) and then
// cancelled oldest first; both halves timed.
func BenchmarkScaleLiveTimeouts(b *testing.B) {
	forSizes(b, func(b *testing.B, n int) {
		cancels := make([]context.CancelFunc, n)
		for i := 0; i < b.N; i++ {
			for j := range cancels {
				_, cancels[j] = context.WithTimeout(context.Background(), time.Hour)
			}
			for j := range cancels {
				cancels[j]()
			}
		}
	})
}

// BenchmarkScaleFanOut: one cancel() of a parent with n live cancellable children.
func BenchmarkScaleFanOut(b *testing.B) {
	forSizes(b, func(b *testing.B, n int) {
		children := make([]context.Context, n)
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			parent, cancel := context.WithCancel(context.Background())
			for j := range children {
				children[j], _ = context.WithCancel(parent)
			}
			b.StartTimer()
			cancel()
			b.StopTimer()
			for _, c := range children {
				if c.Err() == nil {
					b.Fatal("ScaleFanOut: a child is not cancelled after cancel() returned")
				}
			}
			b.StartTimer()
		}
	})
}

// BenchmarkScaleChain: one cancel() of the root of a chain of n cancellable contexts.
func BenchmarkScaleChain(b *testing.B) {
	forSizes(b, func(b *testing.B, n int) {
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			root, cancel := context.WithCancel(context.Background())
			leaf := root
			for j := 0; j < n; j++ {
				leaf, _ = context.WithCancel(leaf)
			}
			b.StartTimer()
			cancel()
			b.StopTimer()
			if leaf.Err() == nil {
				b.Fatal("ScaleChain: the leaf is not cancelled after cancel() returned")
			}
			b.StartTimer()
		}
	})
}

// BenchmarkCommonParentCancelFloor: Go's BenchmarkCommonParentCancel (src/context/
// benchmark_test.go) without the contexts: its 200 dependent divisions per operation, on
// GOMAXPROCS goroutines. CommonParentCancel's time above this floor is what Go's contexts
// cost; the same floor measured in C++ (bench/go_suite.cpp) is tether's. Both sides' floors
// in one run show that the floor is the same work in both languages, and bound the ratio
// CommonParentCancel can reach: tether's floor ÷ Go's CommonParentCancel, were tether's
// contexts free.
func BenchmarkCommonParentCancelFloor(b *testing.B) {
	b.RunParallel(func(pb *testing.PB) {
		x := 0
		for pb.Next() {
			for i := 0; i < 100; i++ {
				x /= x + 1
			}
			for i := 0; i < 100; i++ {
				x /= x + 1
			}
		}
	})
}
