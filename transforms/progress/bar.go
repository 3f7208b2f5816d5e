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
	// The model's counters (see SetModel): time on its ModelDevices
	// devices, and the real tokens and the slots (rows × chunk) it computed.
	ModelBusy               time.Duration
	ModelDevices            int
	ModelTokens, ModelSlots int64
}

// Model is what the progress line reads from the process's model
// (*modelio.Scorer).
type Model interface {
	Busy() time.Duration // summed over devices
	Devices() int
	Utilization() (tokens, slots int64)
}

var model atomic.Pointer[Model]

// SetModel registers the process's model.
func SetModel(m Model) { model.Store(&m) }

// Take reads the counters.
func Take() Snapshot {
	s := Snapshot{Documents: Documents.Load(), Bytes: Bytes.Load(), Rejected: Rejected.Load(), Scored: Scored.Load(),
		Tokens: Tokens.Load(), Patches: Patches.Load(), Shards: Shards.Load()}
	if m := model.Load(); m != nil {
		s.ModelBusy, s.ModelDevices = (*m).Busy(), (*m).Devices()
		s.ModelTokens, s.ModelSlots = (*m).Utilization()
	}
	return s
}

func (s Snapshot) sub(b Snapshot) Snapshot {
	return Snapshot{s.Documents - b.Documents, s.Bytes - b.Bytes, s.Rejected - b.Rejected, s.Scored - b.Scored,
		s.Tokens - b.Tokens, s.Patches - b.Patches, s.Shards - b.Shards,
		s.ModelBusy - b.ModelBusy, s.ModelDevices, s.ModelTokens - b.ModelTokens, s.ModelSlots - b.ModelSlots}
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
		// Busy well under 100% once the model is loaded: the devices wait
		// for input. Slots not real: rows the device computed as padding.
		fmt.Fprintf(&b, " · model busy %.0f%%", 100*d.ModelBusy.Seconds()/(secs*float64(d.ModelDevices)))
		if d.ModelSlots > 0 {
			fmt.Fprintf(&b, ", %.0f%% of slots real", 100*float64(d.ModelTokens)/float64(d.ModelSlots))
		}
	}
	return b.String()
}
