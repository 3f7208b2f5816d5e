package safetensors_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/bltpipe/bltpipe/modelio/safetensors"
)

func Example() {
	dir, err := os.MkdirTemp("", "safetensors-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "x.safetensors")

	err = safetensors.Write(path, []safetensors.Tensor{
		{Name: "norm.weight", DType: "BF16", Shape: []int{3}, Data: []float32{1, 0.5, 1.001}},
	}, map[string]string{"format": "pt"})
	if err != nil {
		log.Fatal(err)
	}

	f, err := safetensors.Open(path)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	dtype, shape, _ := f.Info("norm.weight")
	values, err := f.Float32("norm.weight")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(f.Names(), dtype, shape, values, f.Metadata()["format"])
	// Output: [norm.weight] BF16 [3] [1 0.5 1] pt
}
