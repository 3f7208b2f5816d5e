package outputs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/bltpipe/bltpipe/schemas"
	"github.com/bltpipe/bltpipe/transforms/fsio"
)

// Document is one row of documents/*.parquet (kept columns are not read).
// Entropies (nats) and Prominence have one value per token of
// [BOS, bytes…, EOS]; see schemas for the conventions.
type Document struct {
	ID, Source, Modality string
	NumBytes, NumTokens  int64
	Entropies            []float32 // nil unless asked for
	Prominence           []float32 // nil unless asked for
	PatchLengths         []int32
}

// DocColumns selects the per-token columns Documents reads; the scalar
// columns and patch_lengths are always read.
type DocColumns struct {
	Entropies, Prominence bool
}

// Documents calls fn for every document of the run, in split order then
// input order. The slices passed to fn are fresh copies. fn may return
// ErrStop to end the scan early without an error.
func (r *Run) Documents(ctx context.Context, cols DocColumns, fn func(Document) error) error {
	names := []string{schemas.ColDocID, schemas.ColSource, schemas.ColModality, schemas.ColNumBytes, schemas.ColNumTokens, schemas.ColPatchLengths}
	if cols.Entropies {
		names = append(names, schemas.ColEntropies)
	}
	if cols.Prominence {
		names = append(names, schemas.ColProminence)
	}
	for _, path := range r.Files(schemas.DocumentsDir) {
		err := scanParquet(ctx, path, names, func(rec arrow.RecordBatch, get func(string) arrow.Array) error {
			ids := get(schemas.ColDocID).(*array.String)
			for i := 0; i < int(rec.NumRows()); i++ {
				d := Document{
					ID:           ids.Value(i),
					Source:       get(schemas.ColSource).(*array.String).Value(i),
					Modality:     get(schemas.ColModality).(*array.String).Value(i),
					NumBytes:     get(schemas.ColNumBytes).(*array.Int64).Value(i),
					NumTokens:    get(schemas.ColNumTokens).(*array.Int64).Value(i),
					PatchLengths: listInt32(get(schemas.ColPatchLengths), i),
				}
				if cols.Entropies {
					d.Entropies = listFloat32(get(schemas.ColEntropies), i)
				}
				if cols.Prominence {
					d.Prominence = listFloat32(get(schemas.ColProminence), i)
				}
				if err := fn(d); err != nil {
					return err
				}
			}
			return nil
		})
		if errors.Is(err, ErrStop) {
			return nil
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// ErrStop ends a scan early; the scan then returns nil.
var ErrStop = errors.New("stop scan")

// Document returns the document with the given id, entropies and
// prominence included, or an error naming a few ids that do exist.
func (r *Run) Document(ctx context.Context, id string) (Document, error) {
	var found *Document
	var some []string
	err := r.Documents(ctx, DocColumns{Entropies: true, Prominence: true}, func(d Document) error {
		if d.ID == id {
			found = &d
			return ErrStop
		}
		if len(some) < 5 {
			some = append(some, d.ID)
		}
		return nil
	})
	if err != nil {
		return Document{}, err
	}
	if found == nil {
		return Document{}, fmt.Errorf("no document %q in %s (some ids: %q; bltpipe inspect %s --ids lists them)", id, r.Dir, some, r.Dir)
	}
	return *found, nil
}

// Patch is one row of patches/*.parquet, without the embedding.
type Patch struct {
	DocID                         string
	Index, TokenOffset, Tokens    int32
	ByteOffset, ByteLength        int64
	MeanEntropy, MaxEntropy       float32
	MeanProminence, MaxProminence float32
}

// Patches calls fn for every patch of the run, in document then patch
// order. The embedding column is never read.
func (r *Run) Patches(ctx context.Context, fn func(Patch) error) error {
	names := []string{schemas.ColDocID, schemas.ColPatchIndex, schemas.ColTokenOffset, schemas.ColPatchTokens,
		schemas.ColByteOffset, schemas.ColByteLength, schemas.ColMeanEntropy, schemas.ColMaxEntropy,
		schemas.ColMeanProminence, schemas.ColMaxProminence}
	for _, path := range r.Files(schemas.PatchesDir) {
		err := scanParquet(ctx, path, names, func(rec arrow.RecordBatch, get func(string) arrow.Array) error {
			for i := 0; i < int(rec.NumRows()); i++ {
				p := Patch{
					DocID:          get(schemas.ColDocID).(*array.String).Value(i),
					Index:          get(schemas.ColPatchIndex).(*array.Int32).Value(i),
					TokenOffset:    get(schemas.ColTokenOffset).(*array.Int32).Value(i),
					Tokens:         get(schemas.ColPatchTokens).(*array.Int32).Value(i),
					ByteOffset:     get(schemas.ColByteOffset).(*array.Int64).Value(i),
					ByteLength:     get(schemas.ColByteLength).(*array.Int64).Value(i),
					MeanEntropy:    get(schemas.ColMeanEntropy).(*array.Float32).Value(i),
					MaxEntropy:     get(schemas.ColMaxEntropy).(*array.Float32).Value(i),
					MeanProminence: get(schemas.ColMeanProminence).(*array.Float32).Value(i),
					MaxProminence:  get(schemas.ColMaxProminence).(*array.Float32).Value(i),
				}
				if err := fn(p); err != nil {
					return err
				}
			}
			return nil
		})
		if errors.Is(err, ErrStop) {
			return nil
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Text returns a document's bytes from the run's BLT Arrow shards (written
// with --blt-arrow, UTF-8 documents only). ok is false when the run has no
// BLT Arrow output or the document is not in it.
func (r *Run) Text(ctx context.Context, id string) (text []byte, ok bool, err error) {
	for _, path := range r.Files(schemas.BLTArrowDir) {
		err := scanArrowIPC(ctx, path, func(rec arrow.RecordBatch) error {
			idx := rec.Schema().FieldIndices(schemas.ColSampleID)
			tdx := rec.Schema().FieldIndices(schemas.ColText)
			if len(idx) == 0 || len(tdx) == 0 {
				return fmt.Errorf("%s: no %s/%s columns", path, schemas.ColSampleID, schemas.ColText)
			}
			ids, texts := rec.Column(idx[0]).(*array.String), rec.Column(tdx[0]).(*array.String)
			for i := 0; i < ids.Len(); i++ {
				if ids.Value(i) == id {
					text, ok = []byte(texts.Value(i)), true
					return ErrStop
				}
			}
			return nil
		})
		if ok {
			return text, true, nil
		}
		if err != nil && !errors.Is(err, ErrStop) {
			return nil, false, err
		}
	}
	return nil, false, nil
}

// RejectColStage is the column of rejects/*.parquet that inspect groups by.
const RejectColStage = "stage"

// RejectsByStage counts the rows of rejects/*.parquet by their "stage"
// column (rows of files without one count under "(unknown)"). It returns
// nil when the run has no rejects/ directory.
func (r *Run) RejectsByStage(ctx context.Context) (map[string]int64, error) {
	files, err := r.globFiles(ctx, "rejects/*.parquet")
	if err != nil || len(files) == 0 {
		return nil, err
	}
	out := map[string]int64{}
	for _, path := range files {
		err := scanParquet(ctx, path, []string{RejectColStage}, func(rec arrow.RecordBatch, get func(string) arrow.Array) error {
			a := get(RejectColStage)
			for i := 0; i < int(rec.NumRows()); i++ {
				stage := "(unknown)"
				if s, ok := a.(*array.String); ok && s.IsValid(i) {
					stage = s.Value(i)
				}
				out[stage]++
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// scanParquet streams a Parquet file's record batches, reading only the
// named columns that exist; get returns nil for a column the file lacks.
func scanParquet(ctx context.Context, path string, names []string, fn func(arrow.RecordBatch, func(string) arrow.Array) error) error {
	ra, err := fsio.OpenRandom(ctx, path)
	if err != nil {
		return err
	}
	defer ra.Close()
	pr, err := file.NewParquetReader(ra)
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	defer pr.Close()
	fr, err := pqarrow.NewFileReader(pr, pqarrow.ArrowReadProperties{BatchSize: 256}, memory.DefaultAllocator)
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	sc, err := fr.Schema()
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	var idx []int
	for _, n := range names {
		if f := sc.FieldIndices(n); len(f) > 0 {
			idx = append(idx, f[0])
		}
	}
	sort.Ints(idx)
	if len(idx) == 0 {
		return nil
	}
	rr, err := fr.GetRecordReader(ctx, idx, nil)
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	defer rr.Release()
	for rr.Next() {
		rec := rr.RecordBatch()
		rs := rec.Schema()
		get := func(name string) arrow.Array {
			if f := rs.FieldIndices(name); len(f) > 0 {
				return rec.Column(f[0])
			}
			return nil
		}
		if err := fn(rec, get); err != nil {
			return err
		}
	}
	if err := rr.Err(); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read %s: %w", path, err)
	}
	return nil
}

func scanArrowIPC(ctx context.Context, path string, fn func(arrow.RecordBatch) error) error {
	ra, err := fsio.OpenRandom(ctx, path)
	if err != nil {
		return err
	}
	defer ra.Close()
	fr, err := ipc.NewFileReader(ra)
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	defer fr.Close()
	for i := 0; i < fr.NumRecords(); i++ {
		rec, err := fr.RecordBatch(i)
		if err != nil {
			return fmt.Errorf("read %s: %w", path, err)
		}
		if err := fn(rec); err != nil {
			return err
		}
	}
	return nil
}

func listFloat32(a arrow.Array, i int) []float32 {
	l := a.(*array.List)
	s, e := l.ValueOffsets(i)
	return append([]float32(nil), l.ListValues().(*array.Float32).Float32Values()[s:e]...)
}

func listInt32(a arrow.Array, i int) []int32 {
	l := a.(*array.List)
	s, e := l.ValueOffsets(i)
	return append([]int32(nil), l.ListValues().(*array.Int32).Int32Values()[s:e]...)
}
