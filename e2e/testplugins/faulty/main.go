// Command faulty is a test plugin that misbehaves on request: it crashes,
// hangs, or sends records that break the protocol. It speaks the wire
// protocol without the SDK's checks, as a plugin in another language
// could, so the agent's own defences are what a test exercises.
package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"time"

	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/annexa/annexa/plugins/sdk"
	pluginv1 "github.com/annexa/annexa/proto/plugin/v1"
)

type server struct {
	pluginv1.UnimplementedPluginServer
	modeFile string
	mode     string
}

func (s *server) Describe(context.Context, *pluginv1.DescribeRequest) (*pluginv1.DescribeResponse, error) {
	// Named after its executable, so one binary can play several plugins.
	name := strings.TrimPrefix(filepath.Base(os.Args[0]), "annexa-plugin-")
	return &pluginv1.DescribeResponse{Name: name, Version: "0.0.1", Kinds: []string{"test.faulty"}, ProtocolVersion: 1, DefaultIntervalSeconds: 1}, nil
}

func (s *server) Configure(_ context.Context, req *pluginv1.ConfigureRequest) (*pluginv1.ConfigureResponse, error) {
	var cfg struct {
		Mode     string `json:"mode"`
		ModeFile string `json:"mode_file"`
	}
	_ = json.Unmarshal(req.GetConfigJson(), &cfg)
	s.mode, s.modeFile = cfg.Mode, cfg.ModeFile
	return &pluginv1.ConfigureResponse{}, nil
}

func (s *server) currentMode() string {
	if s.modeFile != "" {
		if b, err := os.ReadFile(s.modeFile); err == nil {
			return strings.TrimSpace(string(b))
		}
	}
	return s.mode
}

func rec(kind, subject string, attrs string) *pluginv1.Evidence {
	return &pluginv1.Evidence{Kind: kind, Schema: 1, Subject: subject, Op: pluginv1.Op_OP_UPSERT,
		ObservedAt: timestamppb.Now(), AttributesJson: []byte(attrs)}
}

func (s *server) Collect(_ *pluginv1.CollectRequest, stream grpc.ServerStreamingServer[pluginv1.CollectResponse]) error {
	mode := s.currentMode()
	if err := stream.Send(&pluginv1.CollectResponse{Records: []*pluginv1.Evidence{rec("test.faulty", "faulty:before", `{"mode":"`+mode+`"}`)}}); err != nil {
		return err
	}
	switch mode {
	case "crash":
		os.Exit(3)
	case "hang":
		// Ignores its context, as a plugin stuck in a system call would.
		time.Sleep(time.Hour)
	case "invalid":
		return stream.Send(&pluginv1.CollectResponse{Records: []*pluginv1.Evidence{rec("test.faulty", "faulty:bad", `["not an object"]`)}})
	case "undeclared":
		return stream.Send(&pluginv1.CollectResponse{Records: []*pluginv1.Evidence{rec("dataset", "dataset:/forged", `{}`)}})
	case "memory":
		var hog [][]byte
		for i := 0; i < 1<<14; i++ {
			b := make([]byte, 1<<20)
			for j := range b {
				b[j] = byte(j)
			}
			hog = append(hog, b)
			time.Sleep(time.Millisecond)
		}
		_ = hog
	}
	return nil
}

type grpcPlugin struct {
	goplugin.NetRPCUnsupportedPlugin
}

func (grpcPlugin) GRPCServer(_ *goplugin.GRPCBroker, s *grpc.Server) error {
	pluginv1.RegisterPluginServer(s, &server{})
	return nil
}

func (grpcPlugin) GRPCClient(context.Context, *goplugin.GRPCBroker, *grpc.ClientConn) (any, error) {
	return nil, nil
}

func main() {
	goplugin.Serve(&goplugin.ServeConfig{
		HandshakeConfig:  sdk.Handshake,
		VersionedPlugins: map[int]goplugin.PluginSet{1: {"inventory": grpcPlugin{}}},
		GRPCServer:       goplugin.DefaultGRPCServer,
	})
}
