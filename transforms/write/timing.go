package write

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/bltpipe/bltpipe/schemas"
	"github.com/bltpipe/bltpipe/transforms/fsio"
)

// Timing is the content of _TIMING.json: how long a run took and how fast
// it went. It is written by bltpipe run after the pipeline (and so
// _MANIFEST.json) has finished. It is kept out of the manifest on purpose:
// the manifest and every shard are reproducible byte for byte, a wall time
// is not. Rates are per second of wall time.
type Timing struct {
	SchemaVersion string  `json:"schema_version"`
	Runner        string  `json:"runner"`
	Started       string  `json:"started"`  // RFC 3339, UTC
	Finished      string  `json:"finished"` // RFC 3339, UTC
	WallSeconds   float64 `json:"wall_seconds"`
	Documents     int64   `json:"documents"`
	Bytes         int64   `json:"bytes"` // document bytes (not input bytes on disk)
	Tokens        int64   `json:"tokens"`
	Patches       int64   `json:"patches"`
	BytesPerSec   float64 `json:"bytes_per_second"`
	TokensPerSec  float64 `json:"tokens_per_second"`
	DocsPerSec    float64 `json:"documents_per_second"`
}

// WriteTiming fills t's rates and schema version and writes it atomically
// to DIR/_TIMING.json.
func WriteTiming(ctx context.Context, output string, t Timing) error {
	t.SchemaVersion = schemas.Version
	if t.WallSeconds > 0 {
		t.BytesPerSec = float64(t.Bytes) / t.WallSeconds
		t.TokensPerSec = float64(t.Tokens) / t.WallSeconds
		t.DocsPerSec = float64(t.Documents) / t.WallSeconds
	}
	b, err := json.MarshalIndent(t, "", "  ")
	if err != nil {
		return err
	}
	path := fsio.Join(output, schemas.TimingFile)
	if _, err := fsio.WriteFile(ctx, path, append(b, '\n')); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
