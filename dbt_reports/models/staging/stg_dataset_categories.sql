with

source as (

    select * from {{ source('evals', 'dataset_categories') }}

),

renamed as (

    select
        category,
        dataset,
        is_primary,
        is_supported

    from source

)

select * from renamed
