package modelio

import (
	"math"
)

// This file is an independent float64 reference of the BLT entropy model,
// written from the specification with plain loops (no GoMLX), to check the
// GoMLX forward against. It processes one document alone, unchunked, with
// row positions 0…n−1: causal attention limited to a sliding window of W keys
// including itself.

type refOutput struct {
	entropy []float64   // [n] nats
	hidden  [][]float64 // [n][dim] residual stream before the final norm
}

func refForward(w *Weights, tokens []int32) refOutput {
	c := w.Config
	n, dim := len(tokens), c.Dim
	hd, nh, nkv := c.HeadDimension(), c.NHeads, c.KVHeads()
	win := c.window()
	x := make([][]float64, n)
	for i, t := range tokens {
		x[i] = vec64(w.TokEmbeddings[int(t)*dim : int(t+1)*dim])
	}
	for _, lw := range w.Layers {
		h := make([][]float64, n)
		for i := range x {
			h[i] = refRMSNorm(x[i], lw.AttnNorm, c.NormEps)
		}
		q := make([][]float64, n)
		k := make([][]float64, n)
		v := make([][]float64, n)
		for i := range h {
			q[i] = refRope(refMatVec(lw.WQ, h[i], nh*hd), i, hd, c.RopeTheta)
			k[i] = refRope(refMatVec(lw.WK, h[i], nkv*hd), i, hd, c.RopeTheta)
			v[i] = refMatVec(lw.WV, h[i], nkv*hd)
		}
		for i := range x {
			ctx := make([]float64, nh*hd)
			for head := range nh {
				kvh := head / (nh / nkv)
				lo := max(0, i-win+1)
				scores := make([]float64, i-lo+1)
				mx := math.Inf(-1)
				for j := lo; j <= i; j++ {
					s := 0.0
					for d := range hd {
						s += q[i][head*hd+d] * k[j][kvh*hd+d]
					}
					s /= math.Sqrt(float64(hd))
					scores[j-lo] = s
					mx = math.Max(mx, s)
				}
				sum := 0.0
				for j := range scores {
					scores[j] = math.Exp(scores[j] - mx)
					sum += scores[j]
				}
				for j := lo; j <= i; j++ {
					p := scores[j-lo] / sum
					for d := range hd {
						ctx[head*hd+d] += p * v[j][kvh*hd+d]
					}
				}
			}
			o := refMatVec(lw.WO, ctx, dim)
			for d := range dim {
				x[i][d] += o[d]
			}
		}
		f := c.HiddenDim()
		for i := range x {
			hn := refRMSNorm(x[i], lw.FFNNorm, c.NormEps)
			g := refMatVec(lw.W1, hn, f)
			u := refMatVec(lw.W3, hn, f)
			for j := range g {
				g[j] = g[j] / (1 + math.Exp(-g[j])) * u[j]
			}
			o := refMatVec(lw.W2, g, dim)
			for d := range dim {
				x[i][d] += o[d]
			}
		}
	}
	out := refOutput{entropy: make([]float64, n), hidden: x}
	for i := range x {
		logits := refMatVec(w.Output, refRMSNorm(x[i], w.Norm, c.NormEps), c.VocabSize)
		mx := math.Inf(-1)
		for _, l := range logits {
			mx = math.Max(mx, l)
		}
		z := 0.0
		for _, l := range logits {
			z += math.Exp(l - mx)
		}
		lz := math.Log(z) + mx
		h := 0.0
		for _, l := range logits {
			lp := l - lz
			h -= math.Exp(lp) * lp
		}
		out.entropy[i] = h
	}
	return out
}

func vec64(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

// refMatVec computes W·x for W in [out, in] layout.
func refMatVec(w []float32, x []float64, out int) []float64 {
	in := len(x)
	y := make([]float64, out)
	for o := range out {
		s := 0.0
		row := w[o*in : (o+1)*in]
		for i, xi := range x {
			s += float64(row[i]) * xi
		}
		y[o] = s
	}
	return y
}

func refRMSNorm(x []float64, w []float32, eps float64) []float64 {
	ms := 0.0
	for _, v := range x {
		ms += v * v
	}
	ms /= float64(len(x))
	inv := 1 / math.Sqrt(ms+eps)
	y := make([]float64, len(x))
	for i, v := range x {
		y[i] = v * inv * float64(w[i])
	}
	return y
}

// refRope rotates interleaved pairs (x[2i], x[2i+1]) of every head by
// pos·θ^(−2i/D).
func refRope(x []float64, pos, hd int, theta float64) []float64 {
	y := make([]float64, len(x))
	for h := 0; h < len(x)/hd; h++ {
		for i := range hd / 2 {
			a := float64(pos) * math.Pow(theta, -float64(2*i)/float64(hd))
			x0, x1 := x[h*hd+2*i], x[h*hd+2*i+1]
			y[h*hd+2*i] = x0*math.Cos(a) - x1*math.Sin(a)
			y[h*hd+2*i+1] = x0*math.Sin(a) + x1*math.Cos(a)
		}
	}
	return y
}
