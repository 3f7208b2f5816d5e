package reject

import (
	"context"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/bltpipe/bltpipe/schemas"
	"github.com/bltpipe/bltpipe/transforms/fsio"
	"github.com/bltpipe/bltpipe/transforms/record"
)

func init() {
	register.Function2x0(dropRejectsFn)
	register.Emitter1[record.Scored]()
}

// rowsPerGroup cuts row groups by count only, so files are byte-identical
// across runs.
const rowsPerGroup = 4096

// Table streams one split's rejects into rejects/<split>.parquet under a
// temporary name; Close commits it. Not safe for concurrent use.
type Table struct {
	file *fsio.AtomicFile
	w    *pqarrow.FileWriter
	b    *array.RecordBuilder
	rows int64
	pend int
}

// ShardName is the rejects shard of a split, relative to the output.
func ShardName(split string) string {
	return schemas.RejectsDir + "/" + split + schemas.ParquetExt
}

// NewTable opens the rejects shard of split under output.
func NewTable(ctx context.Context, output, split string) (*Table, error) {
	path := fsio.Join(output, ShardName(split))
	f, err := fsio.Create(ctx, path)
	if err != nil {
		return nil, err
	}
	props := parquet.NewWriterProperties(
		parquet.WithCompression(compress.Codecs.Zstd),
		parquet.WithCompressionLevel(3),
		parquet.WithCreatedBy("bltpipe "+schemas.Version),
		parquet.WithStats(true),
	)
	w, err := pqarrow.NewFileWriter(schemas.Rejects(), f, props, pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema()))
	if err != nil {
		f.Abort()
		return nil, fmt.Errorf("parquet writer for %s: %w", path, err)
	}
	return &Table{file: f, w: w, b: array.NewRecordBuilder(memory.DefaultAllocator, schemas.Rejects())}, nil
}

// Append adds one reject element (d.Rejected() must hold).
func (t *Table) Append(d record.Document) error {
	if !d.Rejected() {
		return fmt.Errorf("reject table: document %q is not a reject", d.ID)
	}
	r := d.Reject
	if d.ID == "" {
		t.b.Field(0).AppendNull()
	} else {
		t.b.Field(0).(*array.StringBuilder).Append(Printable(d.ID))
	}
	t.b.Field(1).(*array.StringBuilder).Append(Printable(d.Source))
	t.b.Field(2).(*array.Int64Builder).Append(d.Seq)
	t.b.Field(3).(*array.StringBuilder).Append(r.Stage)
	t.b.Field(4).(*array.StringBuilder).Append(r.Class)
	t.b.Field(5).(*array.StringBuilder).Append(Printable(r.Message))
	if r.Size < 0 {
		t.b.Field(6).AppendNull()
	} else {
		t.b.Field(6).(*array.Int64Builder).Append(r.Size)
	}
	t.b.Field(7).(*array.BinaryBuilder).Append(Head(r.Head))
	t.rows++
	if t.pend++; t.pend >= rowsPerGroup {
		return t.flush()
	}
	return nil
}

func (t *Table) flush() error {
	if t.pend == 0 {
		return nil
	}
	rec := t.b.NewRecordBatch()
	defer rec.Release()
	t.pend = 0
	if err := t.w.Write(rec); err != nil {
		return fmt.Errorf("write %s: %w", t.file.Path(), err)
	}
	return nil
}

// Rows is the number of rejects appended.
func (t *Table) Rows() int64 { return t.rows }

// File is the atomic file (for its final path, size and sha256 after Close).
func (t *Table) File() *fsio.AtomicFile { return t.file }

// Close writes the footer and renames the file into place.
func (t *Table) Close() error {
	if err := t.flush(); err != nil {
		t.Abort()
		return err
	}
	t.b.Release()
	if err := t.w.Close(); err != nil {
		t.file.Abort()
		return fmt.Errorf("close %s: %w", t.file.Path(), err)
	}
	return t.file.Commit()
}

// Abort drops the temporary file.
func (t *Table) Abort() {
	t.file.Abort()
}

// DropRejects returns the scored documents that are not rejects
// (PCollection<record.Scored> → same), for consumers that only want data,
// such as the statistics. It is fused: nothing is shuffled.
func DropRejects(s beam.Scope, scored beam.PCollection) beam.PCollection {
	s = s.Scope("DropRejects")
	return beam.ParDo(s, dropRejectsFn, scored)
}

func dropRejectsFn(sc record.Scored, emit func(record.Scored)) {
	if !sc.Doc.Rejected() {
		emit(sc)
	}
}
