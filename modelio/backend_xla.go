//go:build xla

package modelio

import _ "github.com/gomlx/gomlx/backends/xla" // XLA/PJRT (CUDA, TPU, CPU plugins); needs cgo

func xlaHint() string { return ", xla:PLUGIN" }
