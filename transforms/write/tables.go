package write

import (
	"context"
	"fmt"
	"io"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/float16"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/bltpipe/bltpipe/schemas"
	"github.com/bltpipe/bltpipe/transforms/fsio"
	"github.com/bltpipe/bltpipe/transforms/record"
)

// Rows per row group (documents) and per row group (patches). Row groups
// are cut by row count only, so files are byte-identical across runs.
const (
	docRowsPerGroup   = 1024
	patchRowsPerGroup = 8192
	bltRowsPerBatch   = 1000
)

// parquetProps are fixed writer properties: zstd, a constant created_by
// (no version or time in the footer), statistics on, and dictionary
// encoding only for the top-level string columns of schema (ids, sources,
// modalities repeat; floats rarely do, and hashing every entropy and
// embedding value cost a third of the write stage's CPU). Embeddings are
// stored uncompressed: at 768 float32s per patch they are almost all of
// the bytes, zstd saved little on them and was 40% of the patches table's
// CPU in a GPU run (the table of one split is written by one goroutine).
func parquetProps(schema *arrow.Schema) *parquet.WriterProperties {
	opts := []parquet.WriterProperty{
		parquet.WithCompression(compress.Codecs.Zstd),
		parquet.WithCompressionLevel(3),
		parquet.WithCreatedBy("bltpipe " + schemas.Version),
		parquet.WithStats(true),
		parquet.WithDictionaryDefault(false),
		parquet.WithCompressionFor(embeddingColumn, compress.Codecs.Uncompressed),
		parquet.WithStatsFor(embeddingColumn, false), // min/max over every vector element: costly, and no reader prunes on them
	}
	for _, f := range schema.Fields() {
		if f.Type.ID() == arrow.STRING {
			opts = append(opts, parquet.WithDictionaryFor(f.Name, true))
		}
	}
	return parquet.NewWriterProperties(opts...)
}

// embeddingColumn is the Parquet leaf of patches/'s embedding list.
const embeddingColumn = schemas.ColEmbedding + ".list.element"

// parquetTable streams rows of one table of one split into a Parquet file
// committed atomically by Close.
type parquetTable struct {
	table   string
	file    *fsio.AtomicFile
	w       *pqarrow.FileWriter
	b       *array.RecordBuilder
	rows    int64
	pending int
	perRG   int
}

func newParquetTable(ctx context.Context, table, path string, schema *arrow.Schema, perRG int) (*parquetTable, error) {
	f, err := fsio.Create(ctx, path)
	if err != nil {
		return nil, err
	}
	w, err := pqarrow.NewFileWriter(schema, f, parquetProps(schema), pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema()))
	if err != nil {
		f.Abort()
		return nil, fmt.Errorf("parquet writer for %s: %w", path, err)
	}
	return &parquetTable{table: table, file: f, w: w, b: array.NewRecordBuilder(memory.DefaultAllocator, schema), perRG: perRG}, nil
}

// rowDone counts a row appended to the builder and flushes a row group
// when full.
func (t *parquetTable) rowDone() error {
	t.rows++
	t.pending++
	if t.pending >= t.perRG {
		return t.flush()
	}
	return nil
}

func (t *parquetTable) flush() error {
	if t.pending == 0 {
		return nil
	}
	rec := t.b.NewRecordBatch()
	defer rec.Release()
	t.pending = 0
	if err := t.w.Write(rec); err != nil {
		return fmt.Errorf("write %s: %w", t.file.Path(), err)
	}
	return nil
}

func (t *parquetTable) close() error {
	defer t.b.Release()
	if err := t.flush(); err != nil {
		t.file.Abort()
		return err
	}
	if err := t.w.Close(); err != nil { // writes the footer; does not close our file
		t.file.Abort()
		return fmt.Errorf("close %s: %w", t.file.Path(), err)
	}
	return t.file.Commit()
}

func (t *parquetTable) abort() {
	t.b.Release()
	t.file.Abort()
}

// appendDocument adds one row to a documents table.
func appendDocument(t *parquetTable, sc record.Scored) error {
	b := t.b
	d := sc.Doc
	b.Field(0).(*array.StringBuilder).Append(d.ID)
	b.Field(1).(*array.StringBuilder).Append(d.Source)
	b.Field(2).(*array.StringBuilder).Append(d.Modality)
	b.Field(3).(*array.Int64Builder).Append(int64(len(d.Data)))
	b.Field(4).(*array.Int64Builder).Append(int64(len(d.Data) + 2))
	if sc.ModelFree() {
		b.Field(5).AppendNull()
		b.Field(6).AppendNull()
	} else {
		appendFloats(b.Field(5).(*array.ListBuilder), sc.Entropies)
		appendFloats(b.Field(6).(*array.ListBuilder), sc.Prominence)
	}
	lb := b.Field(7).(*array.ListBuilder)
	lb.Append(true)
	lb.ValueBuilder().(*array.Int32Builder).AppendValues(sc.PatchLengths, nil)
	for i := range d.Keep {
		sb := b.Field(8 + i).(*array.StringBuilder)
		if d.KeepNull[i] {
			sb.AppendNull()
		} else {
			sb.Append(d.Keep[i])
		}
	}
	return t.rowDone()
}

func appendFloats(lb *array.ListBuilder, v []float32) {
	lb.Append(true)
	lb.ValueBuilder().(*array.Float32Builder).AppendValues(v, nil)
}

// appendPatches adds one row per patch to a patches table.
func appendPatches(t *parquetTable, sc record.Scored, withEmbedding bool) error {
	b := t.b
	for i, p := range sc.Patches {
		b.Field(0).(*array.StringBuilder).Append(sc.Doc.ID)
		b.Field(1).(*array.Int32Builder).Append(int32(i))
		b.Field(2).(*array.Int32Builder).Append(p.TokenOffset)
		b.Field(3).(*array.Int32Builder).Append(p.Tokens)
		b.Field(4).(*array.Int64Builder).Append(p.ByteOffset)
		b.Field(5).(*array.Int64Builder).Append(p.ByteLength)
		appendSummary(b.Field(6).(*array.Float32Builder), p.MeanEntropy)
		appendSummary(b.Field(7).(*array.Float32Builder), p.MaxEntropy)
		appendSummary(b.Field(8).(*array.Float32Builder), p.MeanProminence)
		appendSummary(b.Field(9).(*array.Float32Builder), p.MaxProminence)
		if withEmbedding {
			if p.Embedding == nil {
				return fmt.Errorf("document %q patch %d has no embedding", sc.Doc.ID, i)
			}
			lb := b.Field(10).(*array.ListBuilder)
			if t.pending == 0 {
				// One allocation per row group instead of repeated growth.
				lb.ValueBuilder().Reserve(t.perRG * len(p.Embedding))
			}
			appendFloats(lb, p.Embedding)
		}
		if err := t.rowDone(); err != nil {
			return err
		}
	}
	return nil
}

// appendSummary appends a patch summary, or null for NaN: the patch stage
// rejects non-finite model outputs, so NaN means no model ran.
func appendSummary(b *array.Float32Builder, v float32) {
	if v != v {
		b.AppendNull()
		return
	}
	b.Append(v)
}

// bltTable writes Meta's preprocessed-entropies Arrow IPC file.
type bltTable struct {
	file    *fsio.AtomicFile
	w       *ipc.FileWriter
	b       *array.RecordBuilder
	rows    int64
	pending int
}

func newBLTTable(ctx context.Context, path string) (*bltTable, error) {
	f, err := fsio.Create(ctx, path)
	if err != nil {
		return nil, err
	}
	w, err := ipc.NewFileWriter(f, ipc.WithSchema(schemas.BLTArrow()))
	if err != nil {
		f.Abort()
		return nil, fmt.Errorf("arrow writer for %s: %w", path, err)
	}
	return &bltTable{file: f, w: w, b: array.NewRecordBuilder(memory.DefaultAllocator, schemas.BLTArrow())}, nil
}

func (t *bltTable) append(sc record.Scored) error {
	t.b.Field(0).(*array.StringBuilder).Append(sc.Doc.ID)
	t.b.Field(1).(*array.StringBuilder).Append(string(sc.Doc.Data))
	lb := t.b.Field(2).(*array.ListBuilder)
	lb.Append(true)
	vb := lb.ValueBuilder().(*array.Float16Builder)
	for _, e := range sc.Entropies {
		vb.Append(float16.New(e))
	}
	t.rows++
	if t.pending++; t.pending >= bltRowsPerBatch {
		return t.flush()
	}
	return nil
}

func (t *bltTable) flush() error {
	if t.pending == 0 {
		return nil
	}
	rec := t.b.NewRecordBatch()
	defer rec.Release()
	t.pending = 0
	return t.w.Write(rec)
}

func (t *bltTable) close() error {
	defer t.b.Release()
	if err := t.flush(); err != nil {
		t.file.Abort()
		return fmt.Errorf("write %s: %w", t.file.Path(), err)
	}
	if err := t.w.Close(); err != nil {
		t.file.Abort()
		return fmt.Errorf("close %s: %w", t.file.Path(), err)
	}
	return t.file.Commit()
}

func (t *bltTable) abort() {
	t.b.Release()
	t.file.Abort()
}

var _ io.Writer = (*fsio.AtomicFile)(nil)

// Table is the streaming, atomically committed Parquet writer behind every
// shard of the pipeline, for stages that write shards of their own (the
// water-filling sphere/ tables): same writer properties, so the same rows
// give the same bytes.
type Table = parquetTable

// NewTable starts a Parquet file at path (local or gs://) with rowsPerGroup
// rows per row group; nothing is visible under path until Close.
func NewTable(ctx context.Context, path string, schema *arrow.Schema, rowsPerGroup int) (*Table, error) {
	return newParquetTable(ctx, "", path, schema, rowsPerGroup)
}

// Builder is the record builder rows are appended to, field by field.
func (t *parquetTable) Builder() *array.RecordBuilder { return t.b }

// RowDone counts a row appended to the builder; it flushes full row groups.
func (t *parquetTable) RowDone() error { return t.rowDone() }

// Close writes the footer and renames the file into place.
func (t *parquetTable) Close() error { return t.close() }

// Abort drops the file.
func (t *parquetTable) Abort() { t.abort() }

// Rows is the number of rows written so far.
func (t *parquetTable) Rows() int64 { return t.rows }

// File is the underlying atomic file (size and sha256 after Close).
func (t *parquetTable) File() *fsio.AtomicFile { return t.file }
