// Command vramrun runs a training job and relaunches it with memory fixes
// until it stops running out of GPU memory.
package main

import "os"

func main() { os.Exit(newApp(os.Stdin, os.Stdout, os.Stderr, os.Environ()).main(os.Args[1:])) }
