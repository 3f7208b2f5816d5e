// Package modelio owns the BLT entropy model: its configuration, its weights
// on disk (Hugging Face and Meta layouts), and its forward pass in GoMLX on
// the simplego (CPU) and XLA/PJRT (GPU) backends.
//
// It must not know about Beam, Arrow or files other than model directories:
// the pipeline calls Scorer and gets per-token numbers back.
//
// Conventions that cross this package's boundary:
//   - Tokens are int32 BLT byte tokens (see modelio/tokenizer): BOS=1, EOS=2,
//     byte b is b+4; a document is [BOS, b0+4, …, EOS] and token 0 is BOS.
//   - Entropies are in nats: −Σ p ln p of the next-token distribution given
//     tokens ≤ i, one per token.
//   - The pre-norm hidden state of token i is the residual stream before the
//     final RMSNorm ([dim] float32); prominence is its L2 norm.
//   - Weight matrices keep PyTorch's [out, in] layout as stored on disk.
package modelio
