package modelio_test

import (
	"fmt"
	"log"
	"os"

	"github.com/bltpipe/bltpipe/modelio"
)

func ExampleLoadModel() {
	dir, err := os.MkdirTemp("", "model-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	cfg := modelio.Config{Dim: 16, NLayers: 1, NHeads: 2, MaxSeqLen: 64, SlidingWindow: 8}
	cfg.Defaults() // vocab 260, norm_eps 1e-5, rope_theta 10000, multiple_of 256
	if err := modelio.SaveModel(dir, modelio.RandomWeights(cfg, 1), "BF16"); err != nil {
		log.Fatal(err)
	}

	w, err := modelio.LoadModel(dir)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(w.DType, w.Config.NumParams(), w.Config.HiddenDim(), len(w.SHA256))
	// Output: BF16 21680 256 64
}
