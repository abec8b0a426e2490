// Package pluginpb is the generated code of vramrun's plugin wire protocol,
// sdk/proto/vramrun/plugin/v2/plugin.proto. It is internal: plugins use
// package sdk, and sdk/serve converts between these messages and its types.
package pluginpb

// protoc (3.15 or newer), protoc-gen-go and protoc-gen-go-grpc must be on PATH:
//   go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
//   go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2

//go:generate protoc -I ../../proto --go_out=../.. --go_opt=module=github.com/vramrun/vramrun/sdk --go-grpc_out=../.. --go-grpc_opt=module=github.com/vramrun/vramrun/sdk vramrun/plugin/v2/plugin.proto
