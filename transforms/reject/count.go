package reject

import (
	"context"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/bltpipe/bltpipe/schemas"
	"github.com/bltpipe/bltpipe/transforms/fsio"
)

// CountByStage reads the stage column of rejects/ shards and counts rows
// per stage (only that column is fetched).
func CountByStage(ctx context.Context, files []string) (map[string]int64, error) {
	out := map[string]int64{}
	for _, f := range files {
		if err := countFile(ctx, f, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func countFile(ctx context.Context, path string, out map[string]int64) error {
	ra, err := fsio.OpenRandom(ctx, path)
	if err != nil {
		return err
	}
	defer ra.Close()
	pr, err := file.NewParquetReader(ra)
	if err != nil {
		return fmt.Errorf("rejects shard %s: %w", path, err)
	}
	defer pr.Close()
	fr, err := pqarrow.NewFileReader(pr, pqarrow.ArrowReadProperties{BatchSize: 4096}, memory.DefaultAllocator)
	if err != nil {
		return fmt.Errorf("rejects shard %s: %w", path, err)
	}
	col := pr.MetaData().Schema.ColumnIndexByName(schemas.ColStage)
	if col < 0 {
		return fmt.Errorf("rejects shard %s: no %s column", path, schemas.ColStage)
	}
	rr, err := fr.GetRecordReader(ctx, []int{col}, nil)
	if err != nil {
		return fmt.Errorf("rejects shard %s: %w", path, err)
	}
	defer rr.Release()
	for rr.Next() {
		a, ok := rr.RecordBatch().Column(0).(*array.String)
		if !ok {
			return fmt.Errorf("rejects shard %s: %s is not utf8", path, schemas.ColStage)
		}
		for i := 0; i < a.Len(); i++ {
			out[a.Value(i)]++
		}
	}
	return rr.Err()
}
