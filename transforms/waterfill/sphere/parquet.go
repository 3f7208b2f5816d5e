package sphere

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/bltpipe/bltpipe/schemas"
	"github.com/bltpipe/bltpipe/transforms/fsio"
	"github.com/bltpipe/bltpipe/transforms/waterfill/alloc"
	"github.com/bltpipe/bltpipe/transforms/write"
)

// readBatchRows is the batch size of the patches reader; the reader holds
// one batch of the five columns it reads (never the embeddings).
const readBatchRows = 1 << 16

// batch is one batch of a patches shard: row i is patch PatchIndex(i) of
// document DocID(i).
type batch struct {
	docID                *array.String
	patchIndex           *array.Int32
	meanP, maxP, entropy *array.Float32
}

func (b *batch) len() int { return b.docID.Len() }

func (b *batch) patch(i int) alloc.Patch {
	return alloc.Patch{Prominence: b.meanP.Value(i), MaxProminence: b.maxP.Value(i), MeanEntropy: b.entropy.Value(i)}
}

// scanPatches streams a patches/ shard batch by batch, reading only
// doc_id, patch_index, mean_entropy, mean_prominence and max_prominence.
func scanPatches(ctx context.Context, path string, fn func(*batch) error) error {
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
	names := []string{schemas.ColDocID, schemas.ColPatchIndex, schemas.ColMeanEntropy, schemas.ColMeanProminence, schemas.ColMaxProminence}
	cols := make([]int, len(names))
	for i, n := range names {
		if cols[i] = pr.MetaData().Schema.ColumnIndexByName(n); cols[i] < 0 {
			return fmt.Errorf("%s: no column %s (is it a bltpipe patches/ shard?)", path, n)
		}
	}
	fr, err := pqarrow.NewFileReader(pr, pqarrow.ArrowReadProperties{BatchSize: readBatchRows}, memory.DefaultAllocator)
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	rr, err := fr.GetRecordReader(ctx, cols, nil)
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	defer rr.Release()
	for rr.Next() {
		rec := rr.RecordBatch()
		get := func(name string) arrow.Array {
			idx := rec.Schema().FieldIndices(name)
			if len(idx) == 0 {
				return nil
			}
			return rec.Column(idx[0])
		}
		var b batch
		var ok [5]bool
		b.docID, ok[0] = get(schemas.ColDocID).(*array.String)
		b.patchIndex, ok[1] = get(schemas.ColPatchIndex).(*array.Int32)
		b.entropy, ok[2] = get(schemas.ColMeanEntropy).(*array.Float32)
		b.meanP, ok[3] = get(schemas.ColMeanProminence).(*array.Float32)
		b.maxP, ok[4] = get(schemas.ColMaxProminence).(*array.Float32)
		if ok != [5]bool{true, true, true, true, true} {
			return fmt.Errorf("%s: unexpected column types %s", path, rec.Schema())
		}
		if b.meanP.NullN() > 0 || b.maxP.NullN() > 0 {
			return fmt.Errorf("%s: patches without prominence (a --model none run): nothing to allocate", path)
		}
		if err := fn(&b); err != nil {
			return err
		}
	}
	if err := rr.Err(); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read %s: %w", path, err)
	}
	return nil
}

// Rows per row group of a sphere shard (as patches/: cut by count only, so
// files are byte-identical across runs).
const sphereRowsPerGroup = 8192

// sphereWriter appends sphere rows.
type sphereWriter struct {
	*write.Table
	docID      *array.StringBuilder
	patchIndex *array.Int32Builder
	weight     *array.Float64Builder
	logWeight  *array.Float64Builder
	coherence  *array.Float64Builder
	shell      *array.Int32Builder
	radius     *array.Float64Builder
	outlier    *array.BooleanBuilder
}

func newSphereWriter(ctx context.Context, path string) (*sphereWriter, error) {
	t, err := write.NewTable(ctx, path, schemas.Sphere(), sphereRowsPerGroup)
	if err != nil {
		return nil, err
	}
	b := t.Builder()
	return &sphereWriter{
		Table:      t,
		docID:      b.Field(0).(*array.StringBuilder),
		patchIndex: b.Field(1).(*array.Int32Builder),
		weight:     b.Field(2).(*array.Float64Builder),
		logWeight:  b.Field(3).(*array.Float64Builder),
		coherence:  b.Field(4).(*array.Float64Builder),
		shell:      b.Field(5).(*array.Int32Builder),
		radius:     b.Field(6).(*array.Float64Builder),
		outlier:    b.Field(7).(*array.BooleanBuilder),
	}, nil
}

func (w *sphereWriter) append(docID string, patchIndex int32, a alloc.Assignment) error {
	w.docID.Append(docID)
	w.patchIndex.Append(patchIndex)
	w.weight.Append(a.Weight)
	w.logWeight.Append(a.LogWeight)
	w.coherence.Append(a.Coherence)
	w.shell.Append(int32(a.Shell))
	w.radius.Append(a.Radius)
	w.outlier.Append(a.Outlier)
	return w.RowDone()
}
