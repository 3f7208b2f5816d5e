// Package testcorpus writes small synthetic corpora for tests and for the
// demo data: JSONL (optionally gzip/zstd), plain text files and Parquet files
// with the FineWeb-Edu schema (text, id, dump, url, file_path, language,
// language_score, token_count, score, int_score) split into row groups.
//
// Texts are generated deterministically from a seed, so tests can recompute
// what they expect.
package testcorpus

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/bltpipe/bltpipe/modelio"
	"github.com/klauspost/compress/zstd"
)

var words = strings.Fields(`the of and to in a is that for it as was with be by on not he this are or
his from at which but have an they you were her she there one all we their been has when who
will more no if out so said what up its about than into them can only other new some could time
these two may then do first any my now such like our over man me even most made after also did
many before must through back years where much your way well down should because each just those
people how too little state good very make world still own see men work long get here between
both life being under never day same another know while last might us great old year off come
since against go came right used take three entropy patch byte latent transformer water fill`)

// Text returns a deterministic pseudo-English text of about n bytes.
func Text(seed uint64, n int) string {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	var b strings.Builder
	for b.Len() < n {
		if b.Len() > 0 {
			if r.IntN(12) == 0 {
				b.WriteString(". ")
			} else {
				b.WriteByte(' ')
			}
		}
		b.WriteString(words[r.IntN(len(words))])
	}
	return b.String()
}

// Row is one FineWeb-Edu record.
type Row struct {
	Text          string  `json:"text"`
	ID            string  `json:"id"`
	Dump          string  `json:"dump"`
	URL           string  `json:"url"`
	FilePath      string  `json:"file_path"`
	Language      string  `json:"language"`
	LanguageScore float64 `json:"language_score"`
	TokenCount    int64   `json:"token_count"`
	Score         float64 `json:"score"`
	IntScore      int64   `json:"int_score"`
}

// Rows returns n deterministic FineWeb-Edu-like rows with texts of 20 to
// 20+spread bytes.
func Rows(seed uint64, n, spread int) []Row {
	r := rand.New(rand.NewPCG(seed, 1))
	out := make([]Row, n)
	for i := range out {
		out[i] = Row{
			Text:          Text(seed*1000+uint64(i), 20+r.IntN(spread+1)),
			ID:            fmt.Sprintf("<urn:uuid:%08x-0000-4000-8000-%012d>", seed, i),
			Dump:          "CC-MAIN-2024-10",
			URL:           fmt.Sprintf("https://example.org/%d/%d", seed, i),
			FilePath:      fmt.Sprintf("s3://commoncrawl/crawl-data/CC-MAIN-2024-10/segments/%d.warc.gz", i%7),
			Language:      "en",
			LanguageScore: 0.9 + float64(i%10)/100,
			TokenCount:    int64(10 + i),
			Score:         2.5 + float64(i%5)/10,
			IntScore:      int64(2 + i%3),
		}
	}
	return out
}

// FineWebSchema is the Arrow schema of FineWeb-Edu's Parquet files.
var FineWebSchema = arrow.NewSchema([]arrow.Field{
	{Name: "text", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "id", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "dump", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "url", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "file_path", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "language", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "language_score", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	{Name: "token_count", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	{Name: "score", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	{Name: "int_score", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
}, nil)

// WriteParquet writes rows to a FineWeb-Edu-schema Parquet file with
// rowsPerGroup rows in each row group (Write makes one row group per record).
func WriteParquet(path string, rows []Row, rowsPerGroup int) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	props := parquet.NewWriterProperties(parquet.WithCompression(compress.Codecs.Snappy), parquet.WithMaxRowGroupLength(int64(rowsPerGroup)))
	w, err := pqarrow.NewFileWriter(FineWebSchema, f, props, pqarrow.DefaultWriterProps())
	if err != nil {
		return err
	}
	for start := 0; start < len(rows); start += rowsPerGroup {
		b := array.NewRecordBuilder(memory.DefaultAllocator, FineWebSchema)
		for _, r := range rows[start:min(start+rowsPerGroup, len(rows))] {
			b.Field(0).(*array.StringBuilder).Append(r.Text)
			b.Field(1).(*array.StringBuilder).Append(r.ID)
			b.Field(2).(*array.StringBuilder).Append(r.Dump)
			b.Field(3).(*array.StringBuilder).Append(r.URL)
			b.Field(4).(*array.StringBuilder).Append(r.FilePath)
			b.Field(5).(*array.StringBuilder).Append(r.Language)
			b.Field(6).(*array.Float64Builder).Append(r.LanguageScore)
			b.Field(7).(*array.Int64Builder).Append(r.TokenCount)
			b.Field(8).(*array.Float64Builder).Append(r.Score)
			b.Field(9).(*array.Int64Builder).Append(r.IntScore)
		}
		rec := b.NewRecordBatch()
		b.Release()
		if err := w.Write(rec); err != nil {
			rec.Release()
			return err
		}
		rec.Release()
	}
	if err := w.Close(); err != nil {
		return err
	}
	return nil
}

// JSONLRecord is one line of a JSONL corpus in Meta's layout.
type JSONLRecord struct {
	SampleID string `json:"sample_id,omitempty"`
	ID       string `json:"id,omitempty"`
	URL      string `json:"url,omitempty"`
	Text     string `json:"text"`
	Lang     string `json:"lang,omitempty"`
}

// JSONL encodes records one per line. compression is "", "gzip" or "zstd".
func JSONL(recs []JSONLRecord, compression string) ([]byte, error) {
	var plain bytes.Buffer
	enc := json.NewEncoder(&plain)
	enc.SetEscapeHTML(false)
	for _, r := range recs {
		if err := enc.Encode(r); err != nil {
			return nil, err
		}
	}
	switch compression {
	case "":
		return plain.Bytes(), nil
	case "gzip":
		var b bytes.Buffer
		z := gzip.NewWriter(&b)
		z.Write(plain.Bytes())
		if err := z.Close(); err != nil {
			return nil, err
		}
		return b.Bytes(), nil
	case "zstd":
		z, err := zstd.NewWriter(nil)
		if err != nil {
			return nil, err
		}
		defer z.Close()
		return z.EncodeAll(plain.Bytes(), nil), nil
	}
	return nil, fmt.Errorf("unknown compression %q", compression)
}

// Records returns n deterministic JSONL records with sample_id "<prefix>-<i>".
func Records(prefix string, seed uint64, n, size int) []JSONLRecord {
	out := make([]JSONLRecord, n)
	for i := range out {
		out[i] = JSONLRecord{SampleID: fmt.Sprintf("%s-%d", prefix, i), Text: Text(seed+uint64(i), size+i%7), Lang: "en"}
	}
	return out
}

// SmallModelConfig is the tiny entropy model the pipeline tests use: dim 32,
// 2 layers, 2 heads, SwiGLU width a multiple of 16, sliding window 64.
func SmallModelConfig() modelio.Config {
	c := modelio.Config{Dim: 32, NLayers: 2, NHeads: 2, MultipleOf: 16, SlidingWindow: 64, MaxSeqLen: 4096}
	c.Defaults()
	return c
}

// WriteSmallModel saves a random SmallModelConfig model (F32) to dir.
func WriteSmallModel(dir string, seed uint64) error {
	return modelio.SaveModel(dir, modelio.RandomWeights(SmallModelConfig(), seed), "F32")
}
