package read

import (
	"context"
	"fmt"
	"strconv"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/bltpipe/bltpipe/transforms/fsio"
	"github.com/bltpipe/bltpipe/transforms/record"
)

// rowGroups returns the number of row groups of a Parquet file (reads the
// footer only).
func rowGroups(ctx context.Context, path string) (int64, error) {
	ra, err := fsio.OpenRandom(ctx, path)
	if err != nil {
		return 0, err
	}
	defer ra.Close()
	pr, err := file.NewParquetReader(ra)
	if err != nil {
		return 0, fmt.Errorf("parquet footer of %s: %w", path, err)
	}
	defer pr.Close()
	return int64(pr.NumRowGroups()), nil
}

// readParquet reads row groups [Start, End) of a Parquet file, fetching only
// the text, id and kept columns. The text column may be string or binary;
// id and kept columns may be any primitive type (rendered as text).
func readParquet(ctx context.Context, sp record.Split, o Options, emit func(record.Document), reject func(string)) error {
	ra, err := fsio.OpenRandom(ctx, sp.Path)
	if err != nil {
		return err
	}
	defer ra.Close()
	pr, err := file.NewParquetReader(ra)
	if err != nil {
		return fmt.Errorf("open parquet: %w", err)
	}
	defer pr.Close()
	fr, err := pqarrow.NewFileReader(pr, pqarrow.ArrowReadProperties{BatchSize: 512}, memory.DefaultAllocator)
	if err != nil {
		return fmt.Errorf("open parquet: %w", err)
	}
	sc := pr.MetaData().Schema
	colOf := func(name string) int { return sc.ColumnIndexByName(name) }

	textCol := -1
	textFields := DefaultTextFields
	if o.TextField != "" {
		textFields = []string{o.TextField}
	}
	for _, f := range textFields {
		if textCol = colOf(f); textCol >= 0 {
			break
		}
	}
	if textCol < 0 {
		return fmt.Errorf("no text column (looked for %v; set --text-field)", textFields)
	}
	idCol := -1
	if o.IDField != "" {
		if idCol = colOf(o.IDField); idCol < 0 {
			return fmt.Errorf("no id column %q", o.IDField)
		}
	} else {
		for _, f := range DefaultIDFields {
			if idCol = colOf(f); idCol >= 0 {
				break
			}
		}
	}
	keepCols := make([]int, len(o.Keep))
	for i, k := range o.Keep {
		keepCols[i] = colOf(k)
	}
	// Columns to fetch, deduplicated; pos maps a leaf index to its position
	// in the record batch.
	var cols []int
	pos := map[int]int{}
	for _, c := range append([]int{textCol, idCol}, keepCols...) {
		if _, ok := pos[c]; c >= 0 && !ok {
			pos[c] = len(cols)
			cols = append(cols, c)
		}
	}
	var groups []int
	row := int64(0)
	for g := 0; g < int(sp.Start); g++ {
		row += pr.MetaData().RowGroup(g).NumRows()
	}
	for g := sp.Start; g < sp.End; g++ {
		groups = append(groups, int(g))
	}
	rr, err := fr.GetRecordReader(ctx, cols, groups)
	if err != nil {
		return fmt.Errorf("row groups [%d,%d): %w", sp.Start, sp.End, err)
	}
	defer rr.Release()
	for rr.Next() {
		rec := rr.RecordBatch()
		text := rec.Column(pos[textCol])
		for i := 0; i < int(rec.NumRows()); i++ {
			seq := row
			row++
			data, ok := bytesAt(text, i)
			if !ok {
				reject(fmt.Sprintf("row %d: null or non-text %s", seq, rec.ColumnName(pos[textCol])))
				continue
			}
			d := record.Document{Seq: seq, Data: data, Modality: "text",
				Keep: make([]string, len(o.Keep)), KeepNull: make([]bool, len(o.Keep))}
			if idCol >= 0 {
				if v, ok := strAt(rec.Column(pos[idCol]), i); ok {
					d.ID = v
				}
			}
			if d.ID == "" {
				d.ID = sp.Path + ":" + strconv.FormatInt(seq, 10)
			}
			for k, c := range keepCols {
				if c < 0 {
					d.KeepNull[k] = true
					continue
				}
				v, ok := strAt(rec.Column(pos[c]), i)
				d.Keep[k], d.KeepNull[k] = v, !ok
			}
			emit(d)
		}
	}
	if err := rr.Err(); err != nil {
		return fmt.Errorf("row groups [%d,%d): %w", sp.Start, sp.End, err)
	}
	return nil
}

// bytesAt returns the bytes of a string or binary value (copied, since the
// record batch is released after the loop).
func bytesAt(a arrow.Array, i int) ([]byte, bool) {
	if a.IsNull(i) {
		return nil, false
	}
	switch c := a.(type) {
	case *array.String:
		return []byte(c.Value(i)), true
	case *array.LargeString:
		return []byte(c.Value(i)), true
	case *array.Binary:
		return append([]byte(nil), c.Value(i)...), true
	case *array.LargeBinary:
		return append([]byte(nil), c.Value(i)...), true
	}
	return nil, false
}

// strAt renders any value as text; false for nulls.
func strAt(a arrow.Array, i int) (string, bool) {
	if a.IsNull(i) {
		return "", false
	}
	if b, ok := bytesAt(a, i); ok {
		return string(b), true
	}
	return a.ValueStr(i), true
}
