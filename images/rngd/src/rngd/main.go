// rngd credits entropy from a hardware RNG to the kernel's pool with the
// RNDADDENTROPY ioctl (writing to /dev/random would mix it in without
// crediting it).
//
//	rngd [-1] [-device /dev/hwrng] [-bytes 64] [-interval 30s]
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"
	"unsafe"
)

// _IOW('R', 0x03, int[2])
const rndAddEntropy = 0x40085203

func credit(random *os.File, data []byte) error {
	// struct rand_pool_info { int entropy_count; int buf_size; __u32 buf[]; }
	buf := make([]byte, 8+len(data))
	*(*int32)(unsafe.Pointer(&buf[0])) = int32(len(data) * 8)
	*(*int32)(unsafe.Pointer(&buf[4])) = int32(len(data))
	copy(buf[8:], data)
	_, _, errno := syscall.Syscall(syscall.SYS_IOCTL, random.Fd(), rndAddEntropy, uintptr(unsafe.Pointer(&buf[0])))
	if errno != 0 {
		return errno
	}
	return nil
}

func main() {
	once := flag.Bool("1", false, "seed once and exit")
	device := flag.String("device", "/dev/hwrng", "entropy source")
	n := flag.Int("bytes", 64, "bytes credited per round")
	interval := flag.Duration("interval", 30*time.Second, "time between rounds")
	flag.Parse()

	src, err := os.Open(*device)
	if err != nil {
		// No hardware RNG (QEMU without virtio-rng): nothing to feed.
		fmt.Fprintf(os.Stderr, "rngd: %v; nothing to do\n", err)
		return
	}
	random, err := os.OpenFile("/dev/random", os.O_WRONLY, 0)
	if err != nil {
		fmt.Fprintf(os.Stderr, "rngd: %v\n", err)
		os.Exit(1)
	}
	data := make([]byte, *n)
	for total := 0; ; {
		if _, err := io.ReadFull(src, data); err != nil {
			fmt.Fprintf(os.Stderr, "rngd: reading %s: %v\n", *device, err)
			os.Exit(1)
		}
		if err := credit(random, data); err != nil {
			fmt.Fprintf(os.Stderr, "rngd: RNDADDENTROPY: %v\n", err)
			os.Exit(1)
		}
		total += len(data)
		if *once {
			fmt.Printf("rngd: credited %d bytes from %s\n", total, *device)
			return
		}
		time.Sleep(*interval)
	}
}
