package progress

import (
	"fmt"
	"strings"
	"sync/atomic"
	"time"
)

// The planned work, set by the launcher (bltpipe run) from read planning
// before the pipeline starts; zero when unknown.
var (
	PlannedSplits atomic.Int64 // input splits
	PlannedBytes  atomic.Int64 // input bytes on disk
	// PlannedText is true when every input is uncompressed JSONL or a plain
	// file, so document bytes read track input bytes (JSON escapes make
	// them a little smaller) and PlannedBytes can give an ETA.
	PlannedText atomic.Bool
)

// Snapshot is the counters at one moment.
type Snapshot struct {
	Documents, Bytes, Rejected, Scored, Tokens, Patches, Shards int64
	// ModelBusy is the model's time on its ModelDevices devices (see SetModel).
	ModelBusy    time.Duration
	ModelDevices int
}

// model is what SetModel registered.
var model atomic.Pointer[modelStat]

type modelStat struct {
	busy    func() time.Duration
	devices int
}

// SetModel registers the process's model: busy reports the time its
// devices have spent scoring, summed over the devices.
func SetModel(busy func() time.Duration, devices int) {
	model.Store(&modelStat{busy, devices})
}

// Take reads the counters.
func Take() Snapshot {
	s := Snapshot{Documents: Documents.Load(), Bytes: Bytes.Load(), Rejected: Rejected.Load(), Scored: Scored.Load(),
		Tokens: Tokens.Load(), Patches: Patches.Load(), Shards: Shards.Load()}
	if m := model.Load(); m != nil {
		s.ModelBusy, s.ModelDevices = m.busy(), m.devices
	}
	return s
}

func (s Snapshot) sub(b Snapshot) Snapshot {
	return Snapshot{s.Documents - b.Documents, s.Bytes - b.Bytes, s.Rejected - b.Rejected, s.Scored - b.Scored,
		s.Tokens - b.Tokens, s.Patches - b.Patches, s.Shards - b.Shards, s.ModelBusy - b.ModelBusy, s.ModelDevices}
}

// Status formats the progress since base (the counters are process-wide,
// so a second run in one process starts from a snapshot) after elapsed:
// with a bar of barWidth cells, percentage and ETA when the planned input
// size allows one, then throughput and counters. barWidth 0 leaves the bar
// out (log lines).
func Status(base, cur Snapshot, elapsed time.Duration, barWidth int) string {
	d := cur.sub(base)
	secs := max(elapsed.Seconds(), 1e-3)
	var b strings.Builder
	planned := PlannedBytes.Load()
	if PlannedText.Load() && planned > 0 {
		frac := min(float64(d.Bytes)/float64(planned), 0.99)
		if barWidth > 0 {
			full := int(frac * float64(barWidth))
			b.WriteString("[" + strings.Repeat("█", full) + strings.Repeat("░", barWidth-full) + "] ")
		}
		fmt.Fprintf(&b, "%3.0f%% of %s", 100*frac, HumanBytes(planned))
		if frac > 0.001 {
			eta := time.Duration(float64(elapsed) * (1 - frac) / frac)
			fmt.Fprintf(&b, ", ETA %s", eta.Round(time.Second))
		}
		b.WriteString(" · ")
	} else if planned > 0 {
		fmt.Fprintf(&b, "input %s (%d splits, compressed: no ETA) · ", HumanBytes(planned), PlannedSplits.Load())
	}
	fmt.Fprintf(&b, "%s/s, %.0f tokens/s · read %d docs (%s), scored %d, %d patches, %d rejected, %d files",
		HumanBytes(int64(float64(d.Bytes)/secs)), float64(d.Tokens)/secs,
		d.Documents, HumanBytes(d.Bytes), d.Scored, d.Patches, d.Rejected, d.Shards)
	if d.ModelDevices > 0 && d.ModelBusy > 0 {
		// Less than ~100% once the model is loaded: the devices wait for input.
		fmt.Fprintf(&b, " · model busy %.0f%%", 100*d.ModelBusy.Seconds()/(secs*float64(d.ModelDevices)))
	}
	return b.String()
}
