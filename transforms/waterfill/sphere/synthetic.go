package sphere

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/bltpipe/bltpipe/schemas"
	"github.com/bltpipe/bltpipe/transforms/fsio"
	"github.com/bltpipe/bltpipe/transforms/write"
)

// WriteSynthetic writes n synthetic patches (no embeddings) into
// dir/patches/ as shards of perShard rows named like the pipeline's
// (part-NNNNN-hash8.parquet), for tests and for measuring bltpipe
// waterfill at scale without a model. Deterministic in seed:
//   - documents of 1…16 patches of 1…8 tokens;
//   - mean prominence log-normal (median e^4 ≈ 55, σ = 0.5) with a 1%
//     tail shifted up by 2 + Exp(1) in log space; max prominence 1…2× it;
//   - mean entropy uniform in [0, 5.5) nats, max entropy ≥ it;
//   - one patch in a thousand has prominence 0 (invalid).
func WriteSynthetic(ctx context.Context, dir string, n, perShard int64, seed uint64) error {
	if n < 0 || perShard < 1 {
		return fmt.Errorf("synthetic: %d patches in shards of %d", n, perShard)
	}
	r := rand.New(rand.NewPCG(seed, 0x5ca1ab1e))
	doc, left, idx, tok := int64(0), 0, int32(0), int32(0)
	for shard := int64(0); shard*perShard < n || (n == 0 && shard == 0); shard++ {
		sum := sha256.Sum256(fmt.Appendf(nil, "synthetic:%d:%d", seed, shard))
		name := fmt.Sprintf("part-%05d-%s%s", shard, hex.EncodeToString(sum[:4]), schemas.ParquetExt)
		t, err := write.NewTable(ctx, fsio.Join(dir, schemas.PatchesDir, name), schemas.Patches(false), 8192)
		if err != nil {
			return err
		}
		b := t.Builder()
		rows := min(perShard, n-shard*perShard)
		for i := int64(0); i < rows; i++ {
			if left == 0 {
				doc++
				left, idx, tok = 1+r.IntN(16), 0, 0
			}
			l := r.NormFloat64()*0.5 + 4
			if r.IntN(100) == 0 {
				l += 2 + r.ExpFloat64()
			}
			p := float32(math.Exp(l))
			if r.IntN(1000) == 0 {
				p = 0
			}
			h := float32(r.Float64() * 5.5)
			ntok := int32(1 + r.IntN(8))
			b.Field(0).(*array.StringBuilder).Append(fmt.Sprintf("syn-%010d", doc))
			b.Field(1).(*array.Int32Builder).Append(idx)
			b.Field(2).(*array.Int32Builder).Append(tok)
			b.Field(3).(*array.Int32Builder).Append(ntok)
			b.Field(4).(*array.Int64Builder).Append(int64(max(tok-1, 0)))
			b.Field(5).(*array.Int64Builder).Append(int64(ntok))
			b.Field(6).(*array.Float32Builder).Append(h)
			b.Field(7).(*array.Float32Builder).Append(h * float32(1+r.Float64()))
			b.Field(8).(*array.Float32Builder).Append(p)
			b.Field(9).(*array.Float32Builder).Append(p * float32(1+r.Float64()))
			if err := t.RowDone(); err != nil {
				t.Abort()
				return err
			}
			left--
			idx++
			tok += ntok
		}
		if err := t.Close(); err != nil {
			return err
		}
	}
	return nil
}
