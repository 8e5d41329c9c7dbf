package config

import (
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// settingLines maps every setting of a plugin section, nested ones by the
// path plugins use in their field errors (roots[1],
// anomalies.brute_force.window, http_logs[0].path), to the line that sets
// it, so a plugin's complaint can point into the file like the agent's own.
func settingLines(section *yaml.Node) map[string]int {
	lines := map[string]int{}
	if section == nil || section.Kind != yaml.MappingNode {
		return lines
	}
	for i := 0; i+1 < len(section.Content); i += 2 {
		k, v := section.Content[i], section.Content[i+1]
		if agentPluginKeys[k.Value] {
			continue
		}
		lines[k.Value] = k.Line
		walkSetting(k.Value, v, lines)
	}
	return lines
}

func walkSetting(path string, n *yaml.Node, lines map[string]int) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			p := path + "." + k.Value
			lines[p] = k.Line
			walkSetting(p, n.Content[i+1], lines)
		}
	case yaml.SequenceNode:
		for i, item := range n.Content {
			p := path + "[" + strconv.Itoa(i) + "]"
			lines[p] = item.Line
			walkSetting(p, item, lines)
		}
	}
}

// SettingLine is the line of the plugin setting a field error names, or
// of the closest enclosing setting the file has (a missing required
// setting has no line of its own), else of the plugin's section.
func (p Plugin) SettingLine(field string) int {
	for f := field; f != ""; {
		if l, ok := p.settingLines[f]; ok {
			return l
		}
		i := strings.LastIndexAny(f, ".[")
		if i < 0 {
			break
		}
		f = f[:i]
	}
	return p.Line
}
