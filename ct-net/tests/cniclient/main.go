// A minimal CNI runtime built on Debian's libcni (golang-github-appc-cni-dev), the library
// podman's CNI backend, containerd's go-cni and cnitool use: it runs one network
// configuration list for one attachment the way they do (plugin lookup in CNI_PATH, version
// negotiation, prevResult chaining, capability args, result caching for CHECK and DEL).
//
//	cniclient add|check|del CONFLIST CONTAINERID NETNS IFNAME [CAPABILITY-ARGS-JSON [CNI_ARGS]]
//
// ADD prints the result as JSON; errors go to stderr with exit status 1.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/containernetworking/cni/libcni"
)

func main() {
	if len(os.Args) < 6 {
		fmt.Fprintln(os.Stderr, "usage: cniclient add|check|del CONFLIST CONTAINERID NETNS IFNAME [CAPS [CNI_ARGS]]")
		os.Exit(2)
	}
	list, err := libcni.ConfListFromFile(os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, "cniclient: conflist:", err)
		os.Exit(1)
	}
	rt := &libcni.RuntimeConf{
		ContainerID: os.Args[3],
		NetNS:       os.Args[4],
		IfName:      os.Args[5],
	}
	if len(os.Args) > 6 && os.Args[6] != "" {
		if err := json.Unmarshal([]byte(os.Args[6]), &rt.CapabilityArgs); err != nil {
			fmt.Fprintln(os.Stderr, "cniclient: capability args:", err)
			os.Exit(2)
		}
	}
	if len(os.Args) > 7 {
		for _, kv := range strings.Split(os.Args[7], ";") {
			if k, v, ok := strings.Cut(kv, "="); ok {
				rt.Args = append(rt.Args, [2]string{k, v})
			}
		}
	}
	cache := os.Getenv("CNICLIENT_CACHE")
	cni := libcni.NewCNIConfigWithCacheDir(filepath.SplitList(os.Getenv("CNI_PATH")), cache, nil)
	ctx := context.Background()
	switch os.Args[1] {
	case "add":
		res, err := cni.AddNetworkList(ctx, list, rt)
		if err != nil {
			fmt.Fprintln(os.Stderr, "cniclient: add:", err)
			os.Exit(1)
		}
		out, _ := json.Marshal(res)
		fmt.Println(string(out))
	case "check":
		err = cni.CheckNetworkList(ctx, list, rt)
	case "del":
		err = cni.DelNetworkList(ctx, list, rt)
	default:
		fmt.Fprintln(os.Stderr, "cniclient: unknown command", os.Args[1])
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "cniclient: %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}
