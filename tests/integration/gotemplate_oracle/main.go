// gotemplate_oracle parses templates with Go's own text/template, the way
// Prometheus validates alert label and annotation templates
// (rulefmt.testTemplateParsing -> template.Expander.ParseTest), with a
// function map stub of the same names. Input on stdin: records
// "<byte length>\n<bytes>". Output: one line per record, "ok" or
// "err <message>" (newlines in the message escaped).
//
// Flags: -preamble=false parses the text alone; -funcs=a,b,c names the
// Prometheus functions (the Go builtins are always there); -name the
// template's name.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/template"
)

func main() {
	preamble := flag.Bool("preamble", true, "prepend Prometheus' alert template preamble")
	funcs := flag.String("funcs", "", "comma-separated function names")
	name := flag.String("name", "__alert_", "template name")
	flag.Parse()

	fm := template.FuncMap{}
	for _, f := range strings.Split(*funcs, ",") {
		if f != "" {
			fm[f] = func(args ...interface{}) interface{} { return nil }
		}
	}
	defs := "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}" +
		"{{$externalURL := .ExternalURL}}{{$value := .Value}}"

	in := bufio.NewReader(os.Stdin)
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	for {
		header, err := in.ReadString('\n')
		if err == io.EOF {
			return
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		n, err := strconv.Atoi(strings.TrimSpace(header))
		if err != nil {
			fmt.Fprintln(os.Stderr, "bad length:", header)
			os.Exit(2)
		}
		buf := make([]byte, n)
		if _, err := io.ReadFull(in, buf); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		text := string(buf)
		if *preamble {
			text = defs + text
		}
		_, perr := template.New(*name).Funcs(fm).Option("missingkey=zero").Parse(text)
		if perr == nil {
			fmt.Fprintln(out, "ok")
		} else {
			fmt.Fprintln(out, "err", strings.ReplaceAll(perr.Error(), "\n", "\\n"))
		}
	}
}
