// Package patcher owns BLT patching: turning one document's tokens and
// per-token entropies into patch lengths, with the rules of Meta's BLT
// patcher (facebookresearch/blt, bytelatent/data/patcher.py).
//
// It is pure computation on slices. It must not know about models, files,
// Beam or Arrow: the entropy model (modelio) produces the entropies, the
// pipeline calls Patch once per document.
//
// # Conventions
//
// Positions are token indices into one document. Tokens are BLT byte tokens
// (modelio/tokenizer): BOE=0, BOS=1, EOS=2, BPE=3, byte b is b+4, and a
// document is [BOS, b0+4, …, EOS], so token 0 is BOS and token i+1 is byte i.
// Entropies are in nats, one per token: entropies[i] is the entropy of the
// model's prediction of token i+1 given tokens 0…i. A patch is a run of
// consecutive tokens; Patch returns the run lengths in order, every length is
// at least 1 and they sum to the number of tokens n. A position p "starts a
// patch" when a patch begins at token p; Starts turns lengths back into those
// positions.
//
// Patch (or AppendPatch, to reuse a buffer) returns exactly the lengths
// Meta's Patcher.patch returns for one sequence (batch size 1) with
// include_next_token=False, which trims its trailing zero lengths. Meta's model code calls it with include_next_token=True,
// which patches n+1 positions (the token about to be predicted included); the
// extra position only ever adds one to the last patch or adds a final patch
// of length 1, so the first n tokens are cut the same way.
//
// # Rules, by mode
//
// In every mode a document of 0 tokens has no patches. The rules below use n
// for the number of tokens and t for float32(Threshold).
//
// entropy (Meta: patching_mode "entropy" with a threshold): positions 0 and 1
// always start a patch (Meta's first_ids = [0, 1]); each p in [2, n) starts a
// patch by one of three rules, chosen as Meta chooses them (monotonicity
// first, then threshold_add, then the global threshold):
//
//   - Global (the default; Meta: `entropies[:, 1:] > threshold`, the mask
//     offset by the two first ids): p starts a patch when entropies[p-1] > t.
//     The comparison is strict, so an entropy exactly equal to the threshold
//     does not start a patch.
//   - Monotonic (Options.Monotonic; Meta:
//     patch_start_mask_from_entropy_with_monotonicity): position 2 (when
//     n ≥ 3) always starts a patch (Meta sets mask[:, 0] = True on the entropies that
//     remain after dropping entropies[0]); each p ≥ 3 starts a patch when
//     float32(entropies[p-1] − entropies[p-2]) > t.
//   - Global and monotonic (Options.ThresholdAdd non-nil; Meta:
//     patch_start_mask_global_and_monotonicity with t_add = threshold_add):
//     position 2 always starts a patch; position 3 never does (Meta's
//     `& ~mask[:, :-1]` reads the initial mask, whose only True is the one
//     for position 2); each p ≥ 4 starts a patch when
//     float32(entropies[p-1] − entropies[p-2]) > float32(*ThresholdAdd) and
//     entropies[p-1] > t. A ThresholdAdd of 0 is a real setting (Meta tests
//     threshold_add against None), hence the pointer.
//
// Comparisons run in float32, as PyTorch compares a float32 tensor with a
// Python float: thresholds are rounded to float32 first. DefaultThreshold,
// Meta's PatcherArgs.threshold default, is exactly a float32 value. Meta's
// Monotonic takes precedence over threshold_add silently; Validate rejects
// the combination instead. entropies[0] and entropies[n-1] never affect the
// result (the latter would decide position n, which only exists with
// include_next_token=True). Meta's other entropy variant, threshold=None
// (keep the n/patch_size − 2 highest-entropy positions), is not provided.
//
// static (Meta: patching_mode None in facebookresearch/blt, "static" in later
// forks): every patch has PatchSize tokens except the last, which has
// n mod PatchSize tokens when that is not 0; ⌈n/PatchSize⌉ patches. BOS gets
// no special treatment. PatchSize is an integer here (Meta's field is a
// float, default 4.5).
//
// byte: every token is its own patch (n patches of length 1). The
// facebookresearch/blt patcher has no byte mode of its own (it is static
// with patch size 1); later forks name it "byte" and build all-ones lengths.
//
// space (Meta: find_space_patch_start_ids): a token is space-like unless it
// is an ASCII letter or digit byte or a UTF-8 continuation byte
// (0x80–0xBF); special tokens (ids below 4) are space-like. A token ends a
// patch when it is a special token, or when it is space-like and the token
// before it is not (the first of a run of space-like bytes). Positions 0 and
// 1 always start a patch; each p in [2, n) starts a patch when token p-1
// ends one. So "Hello, world!" after BOS is cut as "Hello," " world!": a
// patch is a word plus the first space-like byte after it, and further
// space-like bytes lead the next patch. Meta's mask also marks position n
// when the last token ends a patch (always, for a document ending in EOS);
// that start has length 0 and is trimmed by Meta's own post-processing.
// Space mode needs the tokens, and they must lie in [0, 260).
//
// # Max patch length
//
// With MaxPatchLength m > 0, applied after any mode (Meta:
// split_large_numbers on the lengths, when max_patch_length is set): a patch
// of length l > m becomes ⌊(l−1)/m⌋ patches of length m followed by one of
// length l − m·⌊(l−1)/m⌋, which lies in [1, m]; so 10 with m = 4 becomes
// 4, 4, 2 and 8 becomes 4, 4. Patches of length ≤ m are unchanged.
package patcher
