// Package progress holds process-wide counters that the stages bump next to
// their Beam counters. Beam metrics arrive only when a job ends; these are
// read while it runs, so an in-process runner (prism) can print a periodic
// progress line. On remote workers they count locally and nobody reads them.
package progress

import (
	"fmt"
	"sync/atomic"
)

// Counters of the running process.
var (
	Documents atomic.Int64 // documents read
	Bytes     atomic.Int64 // document bytes read
	Rejected  atomic.Int64 // records that could not become documents
	Scored    atomic.Int64 // documents through the model
	Tokens    atomic.Int64 // tokens through the model
	Patches   atomic.Int64 // patches produced
	Shards    atomic.Int64 // shard files committed
	Resumed   atomic.Int64 // splits an earlier run had finished (skipped)
)

// Line formats the counters as one human-readable line.
func Line() string {
	return fmt.Sprintf("read %d docs (%s), scored %d docs / %d tokens, %d patches, %d rejected, %d files written",
		Documents.Load(), HumanBytes(Bytes.Load()), Scored.Load(), Tokens.Load(), Patches.Load(), Rejected.Load(), Shards.Load())
}

// HumanBytes renders a byte count with a binary unit.
func HumanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
