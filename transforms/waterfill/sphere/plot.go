package sphere

import (
	"fmt"
	"image/color"
	"io"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// PlotOccupancy draws, for each _SPHERE.json given, patches per shell
// (points) against shell capacity c_k (line), one panel each, two panels a
// row, and writes a PNG.
func PlotOccupancy(w io.Writer, files ...File) error {
	if len(files) == 0 {
		return fmt.Errorf("plot: nothing to draw")
	}
	cols := min(2, len(files))
	rows := (len(files) + cols - 1) / cols
	plots := make([][]*plot.Plot, rows)
	for i := range plots {
		plots[i] = make([]*plot.Plot, cols)
	}
	for i, f := range files {
		p := plot.New()
		p.Title.Text = fmt.Sprintf("%s: %d patches, %d shells, α = %g, max |n−c| = %.0f", f.Method, f.Patches, f.Shells, f.CapacityExponent, f.MaxCountError)
		p.X.Label.Text = "shell k (0 = innermost, radius r_min)"
		p.Y.Label.Text = "patches"
		capXY := make(plotter.XYs, len(f.Table))
		cntXY := make(plotter.XYs, len(f.Table))
		for k, s := range f.Table {
			capXY[k] = plotter.XY{X: float64(s.K), Y: s.Capacity}
			cntXY[k] = plotter.XY{X: float64(s.K), Y: float64(s.Count)}
		}
		sc, err := plotter.NewScatter(cntXY)
		if err != nil {
			return err
		}
		sc.GlyphStyle.Radius = vg.Points(1.4)
		sc.GlyphStyle.Color = color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}
		ln, err := plotter.NewLine(capXY)
		if err != nil {
			return err
		}
		ln.Color = color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff}
		ln.Width = vg.Points(1.2)
		p.Add(plotter.NewGrid(), sc, ln)
		p.Legend.Add("occupancy n_k", sc)
		p.Legend.Add("capacity c_k = N·R_k^α / Σ_j R_j^α", ln)
		p.Legend.Top, p.Legend.Left = true, true
		plots[i/cols][i%cols] = p
	}
	for i := len(files); i < rows*cols; i++ { // an empty last panel
		plots[i/cols][i%cols] = plot.New()
		plots[i/cols][i%cols].HideAxes()
	}
	img := vgimg.New(vg.Length(cols)*6*vg.Inch, vg.Length(rows)*3.6*vg.Inch)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: rows, Cols: cols, PadX: vg.Millimeter * 4, PadY: vg.Millimeter * 4, PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 2}
	canvases := plot.Align(plots, tiles, dc)
	for i := range plots {
		for j := range plots[i] {
			plots[i][j].Draw(canvases[i][j])
		}
	}
	_, err := vgimg.PngCanvas{Canvas: img}.WriteTo(w)
	return err
}
