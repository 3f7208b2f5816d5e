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
// footer only). A footer that makes the library panic is an error.
func rowGroups(ctx context.Context, path string) (n int64, err error) {
	defer func() {
		if r := recover(); r != nil {
			n, err = 0, fmt.Errorf("parquet footer of %s: reader panicked: %v", path, r)
		}
	}()
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
// id and kept columns may be any primitive type (rendered as text). A row
// over MaxRowBytes is rejected; so is a file without a text column (once)
// and a row group larger than MaxFileBytes uncompressed (unread).
func readParquet(ctx context.Context, sp record.Split, o Options, emit func(record.Document), reject rejectFn) error {
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
		reject(0, "", classNoText, fmt.Sprintf("no text column (looked for %v; set --text-field)", textFields), nil, -1)
		return nil
	}
	idCol := -1
	if o.IDField != "" {
		if idCol = colOf(o.IDField); idCol < 0 {
			reject(0, "", classNoText, fmt.Sprintf("no id column %q", o.IDField), nil, -1)
			return nil
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
	if sp.End > int64(pr.NumRowGroups()) || sp.Start < 0 {
		return fmt.Errorf("row groups [%d,%d) of a file with %d", sp.Start, sp.End, pr.NumRowGroups())
	}
	for g := sp.Start; g < sp.End; g++ {
		rg := pr.MetaData().RowGroup(int(g))
		if size := rg.TotalByteSize(); size > o.maxFileBytes() || size < 0 {
			// Rows of this group are not read: one reject stands for them.
			reject(row, "", classRowTooLarge, fmt.Sprintf("row group %d: %d bytes uncompressed (%d rows), over --max-file-bytes %d", g, size, rg.NumRows(), o.maxFileBytes()), nil, size)
			row += rg.NumRows()
			continue
		}
		groups = append(groups, int(g))
	}
	if len(groups) == 0 {
		return nil
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
				reject(seq, "", classNoText, fmt.Sprintf("row %d: null or non-text %s", seq, rec.ColumnName(pos[textCol])), nil, -1)
				continue
			}
			if size := rowBytes(rec, i); size > o.maxRowBytes() {
				reject(seq, "", classRowTooLarge, fmt.Sprintf("row %d: %d bytes, over --max-row-bytes %d", seq, size, o.maxRowBytes()), data, size)
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

// rowBytes is the size of row i's fetched values (strings and binaries by
// length, other values by their text form).
func rowBytes(rec arrow.RecordBatch, i int) int64 {
	n := int64(0)
	for c := 0; c < int(rec.NumCols()); c++ {
		col := rec.Column(c)
		if col.IsNull(i) {
			continue
		}
		switch a := col.(type) {
		case *array.String:
			n += int64(a.ValueLen(i))
		case *array.LargeString:
			n += int64(len(a.Value(i)))
		case *array.Binary:
			n += int64(a.ValueLen(i))
		case *array.LargeBinary:
			n += int64(len(a.Value(i)))
		default:
			n += int64(len(a.ValueStr(i)))
		}
	}
	return n
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
