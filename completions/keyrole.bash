# bash completion for keyrole(1)                          -*- shell-script -*-
# Installed as $(PREFIX)/share/bash-completion/completions/keyrole.
#
# Completes the subcommands, the options of each subcommand, profile
# names (the [profile NAME] and [default] sections of
# ${AWS_CONFIG_FILE:-~/.aws/config}) and IAM Identity Center session names
# (its [sso-session NAME] sections). Reads that one file and runs no other
# program than awk, so it never contacts keyroled.

_keyrole_profiles()
{
	local cfg=${AWS_CONFIG_FILE:-$HOME/.aws/config}
	[[ -r $cfg && -f $cfg ]] || return 0
	# Bounded: at most 4 MiB of config is looked at (keyroled's own cap).
	head -c 4194304 -- "$cfg" 2>/dev/null | awk '
		/^[ \t]*\[[ \t]*default[ \t]*\][ \t]*$/ { print "default"; next }
		/^[ \t]*\[[ \t]*profile[ \t]+[^]]+\]/ {
			s = $0
			sub(/^[ \t]*\[[ \t]*profile[ \t]+/, "", s)
			sub(/[ \t]*\].*$/, "", s)
			if (s != "") print s
		}'
}

_keyrole_sessions()
{
	local cfg=${AWS_CONFIG_FILE:-$HOME/.aws/config}
	[[ -r $cfg && -f $cfg ]] || return 0
	head -c 4194304 -- "$cfg" 2>/dev/null | awk '
		/^[ \t]*\[[ \t]*sso-session[ \t]+[^]]+\]/ {
			s = $0
			sub(/^[ \t]*\[[ \t]*sso-session[ \t]+/, "", s)
			sub(/[ \t]*\].*$/, "", s)
			if (s != "") print s
		}'
}

_keyrole_options()
{
	case $1 in
	get) echo "--mfa-code --no-autostart --help" ;;
	env) echo "--format --region --mfa-code --no-autostart --help" ;;
	exec) echo "--server --no-server --force --region --mfa-code --no-autostart --help" ;;
	status | check) echo "--json --no-autostart --help" ;;
	forget) echo "--all --no-autostart --help" ;;
	add) echo "--verify --move --no-autostart --help" ;;
	wrap) echo "--as --write --all --no-autostart --help" ;;
	remove) echo "--no-autostart --help" ;;
	login) echo "--profile --force --no-browser --no-autostart --help" ;;
	logout | sso) echo "--profile --no-autostart --help" ;;
	console) echo "--print --destination --duration --mfa-code --no-autostart --help" ;;
	version | help) echo "--help" ;;
	esac
}

_keyrole()
{
	local cur prev words cword
	if declare -F _init_completion >/dev/null 2>&1; then
		_init_completion -n = || return
	else
		cur=${COMP_WORDS[COMP_CWORD]}
		prev=${COMP_WORDS[COMP_CWORD - 1]}
		words=("${COMP_WORDS[@]}")
		cword=$COMP_CWORD
	fi
	local commands="get env exec status forget add remove check wrap login logout sso console version help"
	local cmd="" profile="" i w npos=0

	# Find the subcommand and (for exec) where the command to run starts.
	for ((i = 1; i < cword; i++)); do
		w=${words[i]}
		if [[ -z $cmd ]]; then
			[[ $w == -* ]] || cmd=$w
			continue
		fi
		case $w in
		--mfa-code | --profile | --destination | --duration | --region | --format | --as) ((i++)) ;;
		--) [[ $cmd == exec && -n $profile ]] && break ;;
		-*) ;;
		*)
			((npos++))
			if [[ -z $profile ]]; then
				profile=$w
			elif [[ $cmd == exec ]]; then
				break
			fi
			;;
		esac
	done

	if [[ -z $cmd ]]; then
		if [[ $cur == -* ]]; then
			mapfile -t COMPREPLY < <(compgen -W "--help --version" -- "$cur")
		else
			mapfile -t COMPREPLY < <(compgen -W "$commands" -- "$cur")
		fi
		return 0
	fi

	# keyrole exec PROFILE [--] COMMAND...: complete the command line.
	if [[ $cmd == exec && -n $profile && $i -lt $cword ]]; then
		if [[ ${words[i]} == -- ]]; then
			((i++))
		fi
		if ((i < cword)) && declare -F _command_offset >/dev/null 2>&1; then
			_command_offset "$i"
		elif ((i == cword)); then
			mapfile -t COMPREPLY < <(compgen -c -- "$cur")
		else
			mapfile -t COMPREPLY < <(compgen -f -- "$cur")
		fi
		return 0
	fi

	case $prev in
	--mfa-code | --destination | --duration | --region | --as)
		return 0 # a code, a URL, seconds, a region, a new name: nothing to offer
		;;
	--format)
		mapfile -t COMPREPLY < <(compgen -W "sh fish powershell json dotenv" -- "$cur")
		return 0
		;;
	--profile)
		local IFS=$'\n'
		mapfile -t COMPREPLY < <(compgen -W "$(_keyrole_profiles)" -- "$cur")
		return 0
		;;
	esac

	if [[ $cur == -* ]]; then
		mapfile -t COMPREPLY < <(compgen -W "$(_keyrole_options "$cmd")" -- "$cur")
		return 0
	fi

	case $cmd in
	help)
		[[ -z $profile ]] && mapfile -t COMPREPLY < <(compgen -W "$commands" -- "$cur")
		;;
	login | logout)
		if ((npos == 0)); then
			local IFS=$'\n'
			mapfile -t COMPREPLY < <(compgen -W "$(_keyrole_sessions)" -- "$cur")
		fi
		;;
	sso)
		if ((npos == 0)); then
			mapfile -t COMPREPLY < <(compgen -W "profiles" -- "$cur")
		elif ((npos == 1)); then
			local IFS=$'\n'
			mapfile -t COMPREPLY < <(compgen -W "$(_keyrole_sessions)" -- "$cur")
		fi
		;;
	get | env | exec | status | forget | add | remove | check | wrap | console)
		if [[ -z $profile ]]; then
			local IFS=$'\n'
			mapfile -t COMPREPLY < <(compgen -W "$(_keyrole_profiles)" -- "$cur")
		elif [[ $cmd == exec ]]; then
			mapfile -t COMPREPLY < <(compgen -c -- "$cur")
		fi
		;;
	esac
	return 0
} &&
	complete -F _keyrole keyrole

# ex: filetype=sh
