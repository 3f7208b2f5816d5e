package read

import (
	"context"

	"github.com/bltpipe/bltpipe/transforms/fsio"
	"github.com/bltpipe/bltpipe/transforms/record"
)

// readText emits a whole file as one document whose id is the file's path.
// Its modality is left empty for the pretokenize stage to detect. Kept
// columns are null, except "path", which holds the file's path.
func readText(ctx context.Context, sp record.Split, o Options, emit func(record.Document)) error {
	b, err := fsio.ReadFile(ctx, sp.Path)
	if err != nil {
		return err
	}
	d := record.Document{ID: sp.Path, Data: b, Keep: make([]string, len(o.Keep)), KeepNull: make([]bool, len(o.Keep))}
	for i, k := range o.Keep {
		if k == "path" {
			d.Keep[i] = sp.Path
		} else {
			d.KeepNull[i] = true
		}
	}
	emit(d)
	return nil
}
