package read

import (
	"context"
	"fmt"
	"io"

	"github.com/bltpipe/bltpipe/transforms/fsio"
	"github.com/bltpipe/bltpipe/transforms/record"
)

// readText emits a whole file as one document whose id is the file's path.
// Its modality is left empty for the pretokenize stage to detect. Kept
// columns are null, except "path", which holds the file's path. A file that
// grew past MaxFileBytes since planning is rejected after reading at most
// MaxFileBytes+1 bytes.
func readText(ctx context.Context, sp record.Split, o Options, emit func(record.Document), reject rejectFn) error {
	r, err := fsio.OpenRead(ctx, sp.Path)
	if err != nil {
		return err
	}
	defer r.Close()
	b, err := io.ReadAll(io.LimitReader(r, o.maxFileBytes()+1))
	if err != nil {
		return fmt.Errorf("read %s: %w", sp.Path, err)
	}
	if int64(len(b)) > o.maxFileBytes() {
		reject(0, sp.Path, classFileTooLarge, fmt.Sprintf("over --max-file-bytes %d", o.maxFileBytes()), b, -1)
		return nil
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
