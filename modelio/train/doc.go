// Package train owns training a BLT entropy model from scratch: next-byte
// language modelling of the architecture modelio runs (its forward pass is
// modelio.ForwardLogits, the Scorer's own chunk graph), with GoMLX autodiff,
// AdamW, a warmup + cosine schedule, global-norm gradient clipping,
// checkpoints that resume bit for bit, and held-out bits-per-byte.
//
// It must not change how models are read, written or run: weights go out
// through modelio.SaveModel, and inference stays modelio's job.
//
// # Data
//
// Every document is tokenized as inference tokenizes it, [BOS, bytes…, EOS]
// (modelio/tokenizer.EncodeDoc), and the token streams of all documents are
// concatenated and cut into rows of SeqLen tokens; the last row is padded
// (token 0, document id −1). Each token carries the index of its document,
// so attention never crosses documents and a long document simply continues
// in the next row (losing, there, the context the previous row held). The
// loss covers every prediction of a next token of the same document within
// a row: none across documents, none on padding. Bits per byte count only
// predictions whose target is a byte (not EOS), in bits (log base 2).
//
// # Determinism
//
// Given the corpus, the options and Seed, a run is deterministic: the
// initial weights come from a PCG stream seeded with Seed, and step s trains
// on rows s·Batch … (s+1)·Batch−1 of an endless sequence of epochs, each
// epoch a PCG permutation (Seed, epoch) of all rows. A checkpoint stores the
// step, hence the data position, with the weights and AdamW moments in
// float32, so a resumed run continues exactly where the saved one stopped.
package train
