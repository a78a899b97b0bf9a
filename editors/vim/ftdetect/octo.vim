" octolang pipelines: *.octo files get filetype octo (syntax/octo.vim).
autocmd BufRead,BufNewFile *.octo setfiletype octo
