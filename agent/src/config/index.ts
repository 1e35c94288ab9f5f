/** Agent configuration: l3afd.cfg (INI) or YAML, one schema, embedded default. */
export { AgentConfigSchema, LOG_FORMATS, LOG_LEVELS, META, type AgentConfig, type FieldKind, type FieldMeta, type GroupMeta } from './schema.ts';
export { ConfigError, configFromObject, formatOf, loadConfigFile, parseConfig, type ConfigFormat, type ConfigProblem, type LoadedConfig } from './load.ts';
export { defaultConfig, projectRoot, type DefaultConfigOptions } from './defaults.ts';
export { IniDocument, IniError, parseIni, DEFAULT_SECTION, type IniProblem } from './ini.ts';
export { formatGoDuration, parseBool, parseGoDuration, parseHostPort, parseInteger, parseList, type HostPort } from './values.ts';
